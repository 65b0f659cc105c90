// Package modules fetches the WebAssembly modules that WasmControllers name
// (OCI images, HTTPS URLs, ConfigMaps, inline bytes), verifies them, and keeps
// the fetched ones in a content-addressed store on disk shared by every
// controller.
package modules
