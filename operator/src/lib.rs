//! The ToolHive operator's custom resources ([`crd`]), in ToolHive's own shapes so that its users' manifests
//! apply unchanged. The CustomResourceDefinitions are generated from these types ([`crd::all`]) and checked in
//! under `deploy/crds/` (a test fails when they drift). [`registry`] is the MCPRegistry controller.

pub mod crd;
pub mod registry;
