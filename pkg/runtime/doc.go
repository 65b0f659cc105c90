// Package runtime runs WebAssembly guests with wazero: it compiles each
// distinct module once, instantiates guests, calls their reconcile entry
// point, and suspends and resumes them. It is the only package that imports
// wazero.
package runtime
