//! MCP client configuration on real files in temporary directories.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use thv::clients::{
    Change, ClientConfigError, ClientKind, ClientPaths, entries, installed, register, unregister,
};
use thv::proxy::ProxyMode;

const HTTP: ProxyMode = ProxyMode::StreamableHttp;
const URL: &str = "http://127.0.0.1:23456/mcp";

fn paths() -> (tempfile::TempDir, ClientPaths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = ClientPaths::under(dir.path());
    (dir, paths)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

#[test]
fn missing_files_and_directories_are_created() {
    let (_dir, paths) = paths();
    assert_eq!(
        register(&paths, ClientKind::VsCode, "fetch", URL, HTTP).unwrap(),
        Change::Added
    );
    let vscode = paths.config.join("Code/User/mcp.json");
    assert_eq!(
        read(&vscode),
        format!(
            "{{\n  \"servers\": {{\n    \"fetch\": {{\n      \"type\": \"http\",\n      \"url\": \"{URL}\"\n    }}\n  }}\n}}\n"
        )
    );

    register(&paths, ClientKind::Cursor, "fetch", URL, HTTP).unwrap();
    let cursor: Value = serde_json::from_str(&read(&paths.home.join(".cursor/mcp.json"))).unwrap();
    assert_eq!(cursor, json!({"mcpServers": {"fetch": {"url": URL}}}));

    let sse = "http://127.0.0.1:23457/sse#fetch";
    register(&paths, ClientKind::ClaudeCode, "fetch", sse, ProxyMode::Sse).unwrap();
    let claude: Value = serde_json::from_str(&read(&paths.home.join(".claude.json"))).unwrap();
    assert_eq!(
        claude,
        json!({"mcpServers": {"fetch": {"type": "sse", "url": sse}}})
    );

    register(&paths, ClientKind::VsCodeInsiders, "f", URL, HTTP).unwrap();
    assert!(paths.config.join("Code - Insiders/User/mcp.json").is_file());
}

/// A VS Code file with comments, trailing commas, unknown keys and 4-space indentation.
const VSCODE_JSONC: &str = r#"{
    // My MCP servers
    "servers": {
        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}, // remote
    },
    /* inputs, for secrets */
    "inputs": [],
}
"#;

#[test]
fn jsonc_is_edited_in_place_and_restored_by_unregister() {
    let (_dir, paths) = paths();
    let file = ClientKind::VsCode.config_path(&paths);
    write(&file, VSCODE_JSONC);

    assert_eq!(
        register(&paths, ClientKind::VsCode, "fetch", URL, HTTP).unwrap(),
        Change::Added
    );
    let inserted = format!(
        "\n        \"fetch\": {{\n            \"type\": \"http\",\n            \"url\": \"{URL}\"\n        }},"
    );
    let at = VSCODE_JSONC.find("// remote").unwrap() + "// remote".len();
    let expected = format!("{}{inserted}{}", &VSCODE_JSONC[..at], &VSCODE_JSONC[at..]);
    assert_eq!(read(&file), expected);

    let listed = entries(&paths, ClientKind::VsCode).unwrap();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        ["github", "fetch"],
        "in file order"
    );

    assert_eq!(
        unregister(&paths, ClientKind::VsCode, "fetch").unwrap(),
        Change::Removed
    );
    assert_eq!(read(&file), VSCODE_JSONC);
}

#[test]
fn a_last_entry_without_trailing_comma_round_trips() {
    let (_dir, paths) = paths();
    let file = ClientKind::Cursor.config_path(&paths);
    let original = "{\n\t\"mcpServers\": {\n\t\t\"a\": {\"url\": \"http://x/mcp\"} // note\n\t},\n\t\"other\": 1\n}";
    write(&file, original);
    register(&paths, ClientKind::Cursor, "b", URL, HTTP).unwrap();
    assert_eq!(
        read(&file),
        format!(
            "{{\n\t\"mcpServers\": {{\n\t\t\"a\": {{\"url\": \"http://x/mcp\"}}, // note\n\t\t\"b\": {{\n\t\t\t\"url\": \"{URL}\"\n\t\t}}\n\t}},\n\t\"other\": 1\n}}"
        )
    );
    unregister(&paths, ClientKind::Cursor, "b").unwrap();
    assert_eq!(read(&file), original);
}

#[test]
fn claude_json_keeps_its_other_keys_in_order() {
    let (_dir, paths) = paths();
    let file = ClientKind::ClaudeCode.config_path(&paths);
    let original = r#"{
  "numStartups": 12,
  "projects": {
    "/home/me/src": {
      "allowedTools": [],
      "mcpServers": {}
    }
  },
  "mcpServers": {},
  "userID": "abc"
}
"#;
    write(&file, original);
    register(&paths, ClientKind::ClaudeCode, "fetch", URL, HTTP).unwrap();
    let expected = original.replacen(
        "\"mcpServers\": {},\n  \"userID\"",
        &format!(
            "\"mcpServers\": {{\n    \"fetch\": {{\n      \"type\": \"http\",\n      \"url\": \"{URL}\"\n    }}\n  }},\n  \"userID\""
        ),
        1,
    );
    assert_eq!(read(&file), expected);
    let doc: Value = serde_json::from_str(&read(&file)).unwrap();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["numStartups", "projects", "mcpServers", "userID"]);
    assert_eq!(doc["projects"]["/home/me/src"]["mcpServers"], json!({}));
}

#[test]
fn a_missing_servers_key_is_added_at_the_end() {
    let (_dir, paths) = paths();
    let file = ClientKind::ClaudeCode.config_path(&paths);
    write(&file, "{\n  \"theme\": \"dark\"\n}\n");
    register(&paths, ClientKind::ClaudeCode, "x", URL, HTTP).unwrap();
    assert_eq!(
        read(&file),
        format!(
            "{{\n  \"theme\": \"dark\",\n  \"mcpServers\": {{\n    \"x\": {{\n      \"type\": \"http\",\n      \"url\": \"{URL}\"\n    }}\n  }}\n}}\n"
        )
    );
}

#[test]
fn re_registering_is_idempotent_and_updates_change_only_the_entry() {
    let (_dir, paths) = paths();
    let file = ClientKind::VsCode.config_path(&paths);
    write(&file, VSCODE_JSONC);
    register(&paths, ClientKind::VsCode, "fetch", URL, HTTP).unwrap();
    let once = read(&file);
    let modified = fs::metadata(&file).unwrap().modified().unwrap();
    assert_eq!(
        register(&paths, ClientKind::VsCode, "fetch", URL, HTTP).unwrap(),
        Change::Unchanged
    );
    assert_eq!(read(&file), once);
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), modified);

    let moved = "http://127.0.0.1:40000/sse#fetch";
    assert_eq!(
        register(&paths, ClientKind::VsCode, "fetch", moved, ProxyMode::Sse).unwrap(),
        Change::Updated
    );
    let expected = once.replace(
        "\"type\": \"http\",\n            \"url\": \"http://127.0.0.1:23456/mcp\"",
        "\"type\": \"sse\",\n            \"url\": \"http://127.0.0.1:40000/sse#fetch\"",
    );
    assert_eq!(read(&file), expected);
    // An entry written by hand in another layout, equal in value, is left alone.
    let github = "https://api.githubcopilot.com/mcp/";
    assert_eq!(
        register(&paths, ClientKind::VsCode, "github", github, HTTP).unwrap(),
        Change::Unchanged
    );
}

#[test]
fn unregister_removes_only_that_entry() {
    let (_dir, paths) = paths();
    let file = ClientKind::VsCode.config_path(&paths);
    assert_eq!(
        unregister(&paths, ClientKind::VsCode, "x").unwrap(),
        Change::Absent
    );
    assert!(!file.exists(), "unregister creates nothing");

    write(&file, VSCODE_JSONC);
    assert_eq!(
        unregister(&paths, ClientKind::VsCode, "x").unwrap(),
        Change::Absent
    );
    assert_eq!(
        unregister(&paths, ClientKind::VsCode, "github").unwrap(),
        Change::Removed
    );
    let text = read(&file);
    assert_eq!(
        text,
        "{\n    // My MCP servers\n    \"servers\": {\n    },\n    /* inputs, for secrets */\n    \"inputs\": [],\n}\n"
    );
    assert!(entries(&paths, ClientKind::VsCode).unwrap().is_empty());

    // Repeated keys all go (the last one is the one that counts).
    write(&file, "{\"servers\": {\"a\": 1, \"b\": 2, \"a\": 3}}");
    unregister(&paths, ClientKind::VsCode, "a").unwrap();
    assert_eq!(read(&file), "{\"servers\": {\"b\": 2}}");
}

#[test]
fn malformed_files_are_refused_and_left_alone() {
    let (_dir, paths) = paths();
    let file = ClientKind::Cursor.config_path(&paths);
    let cases: [(&str, &str); 5] = [
        ("{\n  \"mcpServers\": {\n    \"a\": 1\n", "line 4, column 1"),
        (
            "{\n  \"mcpServers\": {\"a\" 1}\n}",
            "line 2, column 22: expected ':'",
        ),
        ("[1, 2]", "the top level is an array"),
        ("{\"mcpServers\": [\"a\"]}", "`mcpServers` is an array"),
        ("{\"mcpServers\": null}", "`mcpServers` is null"),
    ];
    for (text, expected) in cases {
        write(&file, text);
        let err = register(&paths, ClientKind::Cursor, "x", URL, HTTP).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(message.contains("left unchanged"), "{message}");
        assert_eq!(read(&file), text);
        assert!(unregister(&paths, ClientKind::Cursor, "a").is_err());
        assert_eq!(read(&file), text);
    }
    fs::write(&file, b"{\"a\": \"\xff\"}").unwrap();
    let err = register(&paths, ClientKind::Cursor, "x", URL, HTTP).unwrap_err();
    assert!(matches!(err, ClientConfigError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("not UTF-8"), "{err}");
}

#[test]
fn empty_and_comment_only_files_get_an_object_after_their_comments() {
    let (_dir, paths) = paths();
    let file = ClientKind::Cursor.config_path(&paths);
    write(&file, "");
    register(&paths, ClientKind::Cursor, "x", URL, HTTP).unwrap();
    let doc: Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(doc, json!({"mcpServers": {"x": {"url": URL}}}));

    write(&file, "// keep me");
    register(&paths, ClientKind::Cursor, "x", URL, HTTP).unwrap();
    let text = read(&file);
    assert!(text.starts_with("// keep me\n{"), "{text}");
    assert_eq!(
        entries(&paths, ClientKind::Cursor).unwrap()["x"],
        json!({"url": URL})
    );
}

#[test]
fn crlf_files_keep_crlf() {
    let (_dir, paths) = paths();
    let file = ClientKind::VsCode.config_path(&paths);
    write(
        &file,
        "{\r\n  \"servers\": {\r\n    \"a\": {\"url\": \"http://x\"}\r\n  }\r\n}\r\n",
    );
    register(&paths, ClientKind::VsCode, "b", URL, HTTP).unwrap();
    let text = read(&file);
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "{text:?}"
    );
    unregister(&paths, ClientKind::VsCode, "b").unwrap();
    assert_eq!(
        read(&file),
        "{\r\n  \"servers\": {\r\n    \"a\": {\"url\": \"http://x\"}\r\n  }\r\n}\r\n"
    );
}

#[cfg(unix)]
#[test]
fn permissions_and_symlinks_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, paths) = paths();
    let real = dir.path().join("dotfiles/claude.json");
    write(&real, "{}\n");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    let link = ClientKind::ClaudeCode.config_path(&paths);
    std::os::unix::fs::symlink(&real, &link).unwrap();

    register(&paths, ClientKind::ClaudeCode, "x", URL, HTTP).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(read(&real).contains(URL));
    let leftovers: Vec<_> = fs::read_dir(real.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn installed_clients_are_detected() {
    let (_dir, paths) = paths();
    assert!(installed(&paths).is_empty());
    fs::create_dir_all(paths.config.join("Code")).unwrap();
    fs::create_dir_all(paths.home.join(".cursor")).unwrap();
    assert_eq!(installed(&paths), [ClientKind::VsCode, ClientKind::Cursor]);
    fs::write(paths.home.join(".claude.json"), "{}").unwrap();
    assert_eq!(
        installed(&paths),
        [
            ClientKind::VsCode,
            ClientKind::Cursor,
            ClientKind::ClaudeCode
        ]
    );
}

#[test]
fn names_and_arguments_are_checked() {
    for c in ClientKind::ALL {
        assert_eq!(c.name().parse::<ClientKind>().unwrap(), c);
    }
    let err = "emacs".parse::<ClientKind>().unwrap_err().to_string();
    assert!(err.contains("unknown client 'emacs'"), "{err}");
    let (_dir, paths) = paths();
    let err = register(&paths, ClientKind::Cursor, "", URL, HTTP).unwrap_err();
    assert!(err.to_string().contains("workload name"), "{err}");
    let err = register(&paths, ClientKind::Cursor, "x", "ftp://h/", HTTP).unwrap_err();
    assert!(err.to_string().contains("http or https"), "{err}");
    assert!(!ClientKind::Cursor.config_path(&paths).exists());
}
