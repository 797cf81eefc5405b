// Command pause is the pod sandbox process for the test node's kubelet (image meshd/pause):
// it holds the pod's namespaces open, reaps orphaned children (it is PID 1 when the pod
// shares its PID namespace) and exits 0 on SIGINT or SIGTERM. Written here so that no
// image has to be pulled; built by scripts/build-images.sh.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
