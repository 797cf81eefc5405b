//go:build tools

// Package tools pins the Kubernetes binaries used by the test suite (see
// BUILD-NOTES.md): the control plane, and a node (kubelet) with the
// controller-manager and scheduler. Nothing here is compiled into meshd.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
