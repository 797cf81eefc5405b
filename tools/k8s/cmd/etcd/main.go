// Command etcd is the stock etcd server (same as go.etcd.io/etcd/v3's main),
// built from the etcd version that k8s.io/kubernetes pins, so kube-apiserver
// and etcd come from one module graph.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
