// Command xds-reference is the bench's native yardstick: an ADS server on go-control-plane's
// snapshot cache that serves the bench mesh (clusters, endpoints, one shared route
// configuration, one outbound listener per sidecar) with no translation, and applies the
// bench's changes through a tiny HTTP control endpoint.
//
//	xds-reference -mesh mesh.json [-xds 127.0.0.1:0] [-control 127.0.0.1:0]
//
// On start it prints one line: "xds-reference xds=ADDR control=ADDR".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

func main() {
	meshFile := flag.String("mesh", "", "mesh description (JSON) written by the bench")
	xdsAddr := flag.String("xds", "127.0.0.1:0", "ADS listen address (plaintext gRPC)")
	controlAddr := flag.String("control", "127.0.0.1:0", "control endpoint listen address (HTTP)")
	flag.Parse()
	if *meshFile == "" {
		log.Fatal("xds-reference: -mesh FILE is required")
	}
	raw, err := os.ReadFile(*meshFile)
	if err != nil {
		log.Fatalf("xds-reference: %v", err)
	}
	var spec MeshSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("xds-reference: %s: %v", *meshFile, err)
	}
	m, err := newMesh(spec)
	if err != nil {
		log.Fatalf("xds-reference: %s: %v", *meshFile, err)
	}

	ctx := context.Background()
	snapshots := cache.NewSnapshotCache(true, cache.IDHash{}, nil)
	m.cache = snapshots
	callbacks := server.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discovery.DiscoveryRequest) error {
			if n := req.GetNode(); n != nil {
				m.ensureNode(ctx, n)
			}
			return nil
		},
		StreamDeltaRequestFunc: func(_ int64, req *discovery.DeltaDiscoveryRequest) error {
			if n := req.GetNode(); n != nil {
				m.ensureNode(ctx, n)
			}
			return nil
		},
	}
	xds := server.NewServer(ctx, snapshots, callbacks)
	g := grpc.NewServer(
		grpc.MaxConcurrentStreams(1<<20),
		grpc.InitialWindowSize(1<<24),
		grpc.InitialConnWindowSize(1<<24),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, xds)

	xl, err := net.Listen("tcp", *xdsAddr)
	if err != nil {
		log.Fatalf("xds-reference: listen %s: %v", *xdsAddr, err)
	}
	cl, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		log.Fatalf("xds-reference: listen %s: %v", *controlAddr, err)
	}
	go func() { log.Fatal(g.Serve(xl)) }()
	go func() { log.Fatal(http.Serve(cl, m.controlHandler(ctx))) }()
	fmt.Printf("xds-reference xds=%s control=%s\n", xl.Addr(), cl.Addr())
	select {}
}
