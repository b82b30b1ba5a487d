// Command registry-types reads a registry API the way Go clients of the official registry do: with the official
// registry's own types (github.com/modelcontextprotocol/registry/pkg/api/v0 and pkg/model). For each API prefix
// it pages through the server list, and for every name its version list and its latest version, decodes each
// answer into those types, encodes it again and compares the result with what was sent: a field the types cannot
// carry, or carry differently, is a problem. It also checks what the types promise: page counts, cursors,
// isLatest, names and versions matching what was asked.
//
// Usage: registry-types BASE_URL [PREFIX...]   (default prefixes: v0 v0.1)
// Prints a JSON summary; exits 1 when there is a problem.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"time"

	apiv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
)

type summary struct {
	Prefixes map[string]*prefixSummary `json:"prefixes"`
	Problems []string                  `json:"problems"`
}

type prefixSummary struct {
	Pages    int `json:"pages"`
	Listed   int `json:"listed"`
	Servers  int `json:"servers"`
	Versions int `json:"versions"`
}

var client = &http.Client{Timeout: 30 * time.Second}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: registry-types BASE_URL [PREFIX...]")
		os.Exit(2)
	}
	base := os.Args[1]
	prefixes := os.Args[2:]
	if len(prefixes) == 0 {
		prefixes = []string{"v0", "v0.1"}
	}
	out := summary{Prefixes: map[string]*prefixSummary{}, Problems: []string{}}
	for _, p := range prefixes {
		s := &prefixSummary{}
		out.Prefixes[p] = s
		out.Problems = append(out.Problems, readPrefix(base+"/"+p, s)...)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	if len(out.Problems) > 0 {
		os.Exit(1)
	}
}

func readPrefix(api string, s *prefixSummary) []string {
	var problems []string
	// The list holds every version (as upstream's, without ?version=latest): each name@version once, one latest
	// per name, and the same versions the name's version list holds.
	listed := map[string][]string{}
	latestListed := map[string]int{}
	cursor := ""
	for {
		u := api + "/servers?limit=30"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		var page apiv0.ServerListResponse
		ps := fetch(u, &page)
		problems = append(problems, ps...)
		if len(ps) > 0 {
			return problems
		}
		s.Pages++
		if page.Metadata.Count != len(page.Servers) {
			problems = append(problems, fmt.Sprintf("%s: metadata.count %d but %d servers", u, page.Metadata.Count, len(page.Servers)))
		}
		for _, r := range page.Servers {
			listed[r.Server.Name] = append(listed[r.Server.Name], r.Server.Version)
			if r.Meta.Official == nil {
				problems = append(problems, fmt.Sprintf("%s: %s %s has no official metadata", u, r.Server.Name, r.Server.Version))
			} else if r.Meta.Official.IsLatest {
				latestListed[r.Server.Name]++
			}
		}
		s.Listed += len(page.Servers)
		if page.Metadata.NextCursor == "" {
			break
		}
		if page.Metadata.NextCursor == cursor {
			return append(problems, fmt.Sprintf("%s: the cursor does not advance", u))
		}
		cursor = page.Metadata.NextCursor
	}
	names := make([]string, 0, len(listed))
	for name, versions := range listed {
		names = append(names, name)
		sort.Strings(versions)
		for i := 1; i < len(versions); i++ {
			if versions[i] == versions[i-1] {
				problems = append(problems, fmt.Sprintf("%s/servers: %s %s listed twice", api, name, versions[i]))
			}
		}
		if latestListed[name] != 1 {
			problems = append(problems, fmt.Sprintf("%s/servers: %s has %d versions marked latest", api, name, latestListed[name]))
		}
	}
	sort.Strings(names)
	s.Servers = len(names)
	for _, name := range names {
		escaped := url.PathEscape(name)
		var versions apiv0.ServerListResponse
		problems = append(problems, fetch(api+"/servers/"+escaped+"/versions", &versions)...)
		latest := 0
		for _, v := range versions.Servers {
			if v.Server.Name != name {
				problems = append(problems, fmt.Sprintf("%s versions: holds %s", name, v.Server.Name))
			}
			if v.Meta.Official != nil && v.Meta.Official.IsLatest {
				latest++
			}
		}
		s.Versions += len(versions.Servers)
		if len(versions.Servers) != len(listed[name]) {
			problems = append(problems, fmt.Sprintf("%s: %d versions, %d listed", name, len(versions.Servers), len(listed[name])))
		}
		if latest != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d versions marked latest", name, latest))
		}
		var detail apiv0.ServerResponse
		problems = append(problems, fetch(api+"/servers/"+escaped+"/versions/latest", &detail)...)
		if detail.Meta.Official == nil || !detail.Meta.Official.IsLatest {
			problems = append(problems, fmt.Sprintf("%s latest: %s is not marked latest", name, detail.Server.Version))
		}
		if detail.Server.Name != name {
			problems = append(problems, fmt.Sprintf("%s latest: answered %q", name, detail.Server.Name))
		}
	}
	return problems
}

// fetch GETs u into typed, and compares the typed value, encoded again, with the raw answer.
func fetch(u string, typed any) []string {
	resp, err := client.Get(u)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", u, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", u, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return []string{fmt.Sprintf("%s: HTTP %d: %s", u, resp.StatusCode, body)}
	}
	if err := json.Unmarshal(body, typed); err != nil {
		return []string{fmt.Sprintf("%s: the official types cannot decode it: %v", u, err)}
	}
	again, err := json.Marshal(typed)
	if err != nil {
		return []string{fmt.Sprintf("%s: encoding again: %v", u, err)}
	}
	var raw, seen any
	_ = json.Unmarshal(body, &raw)
	_ = json.Unmarshal(again, &seen)
	var problems []string
	diff(u, "", raw, seen, &problems)
	return problems
}

// Keys of `_meta` objects other than these are extensions the official types do not model: the registry may send
// them (the specification allows reverse-DNS extension keys), and Go clients do not see them.
var modelledMeta = map[string]bool{
	"io.modelcontextprotocol.registry/official":           true,
	"io.modelcontextprotocol.registry/publisher-provided": true,
}

func diff(u, path string, sent, typed any, problems *[]string) {
	switch s := sent.(type) {
	case map[string]any:
		t, ok := typed.(map[string]any)
		if !ok {
			*problems = append(*problems, fmt.Sprintf("%s: %s: an object the types read as %v", u, path, typed))
			return
		}
		for k, v := range s {
			if isMeta(path) && !modelledMeta[k] {
				continue
			}
			tv, present := t[k]
			if !present && isZero(v) {
				continue // an omitempty field's zero value: dropping it loses nothing
			}
			if !present {
				*problems = append(*problems, fmt.Sprintf("%s: %s.%s: sent, but the official types drop it", u, path, k))
				continue
			}
			diff(u, path+"."+k, v, tv, problems)
		}
		for k, v := range t {
			if _, present := s[k]; !present && !isZeroTime(v) {
				*problems = append(*problems, fmt.Sprintf("%s: %s.%s: not sent, but the types hold %v", u, path, k, v))
			}
		}
	case []any:
		t, ok := typed.([]any)
		if !ok || len(t) != len(s) {
			*problems = append(*problems, fmt.Sprintf("%s: %s: an array the types read as %v", u, path, typed))
			return
		}
		for i := range s {
			diff(u, fmt.Sprintf("%s[%d]", path, i), s[i], t[i], problems)
		}
	case string:
		if ts, ok := typed.(string); ok && sameInstant(s, ts) {
			return
		}
		if !reflect.DeepEqual(sent, typed) {
			*problems = append(*problems, fmt.Sprintf("%s: %s: sent %q, the types read %v", u, path, s, typed))
		}
	default:
		if !reflect.DeepEqual(sent, typed) {
			*problems = append(*problems, fmt.Sprintf("%s: %s: sent %v, the types read %v", u, path, sent, typed))
		}
	}
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func isMeta(path string) bool {
	return len(path) >= 6 && path[len(path)-6:] == "._meta"
}

func isZeroTime(v any) bool {
	s, ok := v.(string)
	return ok && s == "0001-01-01T00:00:00Z"
}

// Timestamps are equal when they name the same instant (Go drops trailing zeros of fractions).
func sameInstant(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Equal(tb)
}
