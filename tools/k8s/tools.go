//go:build tools

// Package tools pins the Kubernetes control-plane binaries used by the test
// suite (see BUILD-NOTES.md). Nothing here is compiled into meshd.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
