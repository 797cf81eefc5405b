package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sort"
	"strconv"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Service is one mesh service: host svc.ns.svc.cluster.local, port 80 (HTTP) to targetPort.
type Service struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Endpoints []string `json:"endpoints"`
	// ConnectTimeoutS is the cluster's connect timeout in seconds (default 10).
	ConnectTimeoutS int `json:"connectTimeoutS,omitempty"`
}

// MeshSpec is the mesh description the bench writes (and posts changes in).
type MeshSpec struct {
	Port       uint32    `json:"port"`
	TargetPort uint32    `json:"targetPort"`
	Services   []Service `json:"services"`
}

// mesh holds the shared resources (one map per type, shared by every node's snapshot) and
// each node's own listener.
type mesh struct {
	mu        sync.Mutex
	spec      MeshSpec
	byKey     map[string]int
	cache     cache.SnapshotCache
	version   int
	clusters  cache.Resources
	endpoints cache.Resources
	routes    cache.Resources
	listeners map[string]cache.Resources
}

func newMesh(spec MeshSpec) (*mesh, error) {
	if spec.Port == 0 || spec.TargetPort == 0 {
		return nil, fmt.Errorf("port and targetPort are required")
	}
	m := &mesh{spec: spec, byKey: map[string]int{}, listeners: map[string]cache.Resources{}}
	for i, s := range spec.Services {
		if s.Namespace == "" || s.Name == "" {
			return nil, fmt.Errorf("services[%d]: namespace and name are required", i)
		}
		m.byKey[s.Namespace+"/"+s.Name] = i
	}
	m.rebuild(true, true, true)
	return m, nil
}

func (m *mesh) host(s Service) string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

func (m *mesh) clusterName(s Service) string {
	return "outbound|" + strconv.Itoa(int(m.spec.Port)) + "||" + m.host(s)
}

var adsSource = &core.ConfigSource{ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}}, ResourceApiVersion: core.ApiVersion_V3}

func (m *mesh) cluster(s Service) *cluster.Cluster {
	t := s.ConnectTimeoutS
	if t == 0 {
		t = 10
	}
	name := m.clusterName(s)
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		ConnectTimeout:       durationpb.New(time.Duration(t) * time.Second),
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource, ServiceName: name},
	}
}

func (m *mesh) cla(s Service) *endpoint.ClusterLoadAssignment {
	lbs := make([]*endpoint.LbEndpoint, 0, len(s.Endpoints))
	for _, ip := range s.Endpoints {
		lbs = append(lbs, &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
			Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
				Address: ip, PortSpecifier: &core.SocketAddress_PortValue{PortValue: m.spec.TargetPort},
			}}},
		}}})
	}
	return &endpoint.ClusterLoadAssignment{ClusterName: m.clusterName(s), Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: lbs}}}
}

func (m *mesh) routeConfig() *route.RouteConfiguration {
	port := strconv.Itoa(int(m.spec.Port))
	vhosts := make([]*route.VirtualHost, 0, len(m.spec.Services))
	for _, s := range m.spec.Services {
		h := m.host(s)
		short := s.Name + "." + s.Namespace
		vhosts = append(vhosts, &route.VirtualHost{
			Name:    h + ":" + port,
			Domains: []string{h, h + ":" + port, short, short + ":" + port},
			Routes: []*route.Route{{
				Name:   "default",
				Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: m.clusterName(s)}, Timeout: durationpb.New(0)}},
			}},
		})
	}
	return &route.RouteConfiguration{Name: port, VirtualHosts: vhosts, ValidateClusters: wrapperspb.Bool(false)}
}

func (m *mesh) listener(workload string) *listener.Listener {
	port := strconv.Itoa(int(m.spec.Port))
	routerAny, _ := anypb.New(&router.Router{})
	manager := &hcm.HttpConnectionManager{
		StatPrefix:     "outbound_" + port + "_" + workload,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: port, ConfigSource: adsSource}},
		HttpFilters:    []*hcm.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: routerAny}}},
	}
	hcmAny, _ := anypb.New(manager)
	return &listener.Listener{
		Name:       "0.0.0.0_" + port,
		Address:    &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: "0.0.0.0", PortSpecifier: &core.SocketAddress_PortValue{PortValue: m.spec.Port}}}},
		BindToPort: wrapperspb.Bool(false),
		FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listener.Filter_TypedConfig{TypedConfig: hcmAny},
		}}}},
	}
}

// rebuild replaces the shared resources of the types that changed, each with a new version,
// so the cache answers only the watches of those types.
func (m *mesh) rebuild(clusters, endpoints, routes bool) {
	m.version++
	v := strconv.Itoa(m.version)
	if clusters {
		items := make([]types.Resource, 0, len(m.spec.Services))
		for _, s := range m.spec.Services {
			items = append(items, m.cluster(s))
		}
		m.clusters = cache.NewResources(v, items)
	}
	if endpoints {
		items := make([]types.Resource, 0, len(m.spec.Services))
		for _, s := range m.spec.Services {
			items = append(items, m.cla(s))
		}
		m.endpoints = cache.NewResources(v, items)
	}
	if routes {
		m.routes = cache.NewResources(v, []types.Resource{m.routeConfig()})
	}
}

func (m *mesh) snapshot(node string) *cache.Snapshot {
	s := &cache.Snapshot{}
	s.Resources[cache.GetResponseType(resource.ClusterType)] = m.clusters
	s.Resources[cache.GetResponseType(resource.EndpointType)] = m.endpoints
	s.Resources[cache.GetResponseType(resource.RouteType)] = m.routes
	s.Resources[cache.GetResponseType(resource.ListenerType)] = m.listeners[node]
	return s
}

// ensureNode gives a node seen for the first time its listener and snapshot.
func (m *mesh) ensureNode(ctx context.Context, n *core.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.listeners[n.GetId()]; ok {
		return
	}
	workload := n.GetId()
	if f, ok := n.GetMetadata().GetFields()["WORKLOAD_NAME"]; ok {
		if sv, ok := f.GetKind().(*structpb.Value_StringValue); ok {
			workload = sv.StringValue
		}
	}
	m.listeners[n.GetId()] = cache.NewResources("1", []types.Resource{m.listener(workload)})
	_ = m.cache.SetSnapshot(ctx, n.GetId(), m.snapshot(n.GetId()))
}

// publish sets every known node's snapshot (after a change).
func (m *mesh) publish(ctx context.Context) {
	nodes := make([]string, 0, len(m.listeners))
	for n := range m.listeners {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		_ = m.cache.SetSnapshot(ctx, n, m.snapshot(n))
	}
}

// controlHandler: POST /endpoints, /cluster, /service with one Service as JSON body; GET
// /debug/pprof/profile?seconds=N for a CPU profile.
//   - /endpoints replaces a service's endpoints (EDS only);
//   - /cluster replaces a service's connect timeout (CDS);
//   - /service adds a service (CDS, EDS, RDS).
func (m *mesh) controlHandler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	// Go's profiler, for the bench's --profile (loopback only, like the rest of this endpoint).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	handle := func(path string, apply func(s Service) (int, error)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			var s Service
			if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
				http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
				return
			}
			m.mu.Lock()
			code, err := apply(s)
			if err == nil {
				m.publish(ctx)
			}
			m.mu.Unlock()
			if err != nil {
				http.Error(w, err.Error(), code)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	find := func(s Service) (int, error) {
		i, ok := m.byKey[s.Namespace+"/"+s.Name]
		if !ok {
			return 0, fmt.Errorf("service %s/%s: not in the mesh", s.Namespace, s.Name)
		}
		return i, nil
	}
	handle("/endpoints", func(s Service) (int, error) {
		i, err := find(s)
		if err != nil {
			return http.StatusNotFound, err
		}
		m.spec.Services[i].Endpoints = s.Endpoints
		m.rebuild(false, true, false)
		return 0, nil
	})
	handle("/cluster", func(s Service) (int, error) {
		i, err := find(s)
		if err != nil {
			return http.StatusNotFound, err
		}
		m.spec.Services[i].ConnectTimeoutS = s.ConnectTimeoutS
		m.rebuild(true, false, false)
		return 0, nil
	})
	handle("/service", func(s Service) (int, error) {
		if _, err := find(s); err == nil {
			return http.StatusConflict, fmt.Errorf("service %s/%s: already in the mesh", s.Namespace, s.Name)
		}
		if s.Namespace == "" || s.Name == "" {
			return http.StatusBadRequest, fmt.Errorf("service: namespace and name are required")
		}
		m.byKey[s.Namespace+"/"+s.Name] = len(m.spec.Services)
		m.spec.Services = append(m.spec.Services, s)
		m.rebuild(true, true, true)
		return 0, nil
	})
	return mux
}
