package lbconf

// The webstack cluster's choices. The AWS nodes (package loadbalancer) and
// the local sandbox both build their configurations with ClusterHAProxy and
// ClusterKeepalived, so they differ only in where files live (Paths).
const (
	HTTPPort         = 80
	HTTPSPort        = 443
	HealthPath       = "/healthz" // the web servers' health check
	MonitorAddr      = "127.0.0.1:8405"
	MonitorPath      = "/lbhealth"
	StatsAddr        = "127.0.0.1:8404"
	StatsUser        = "admin"
	StatsPasswordEnv = "WEBSTACK_STATS_PASSWORD"
	VirtualRouterID  = 51
)

// Node is one of the two load balancers.
type Node struct {
	Name     string
	Priority int
}

// ClusterNodes are the two nodes of a cluster named name: <name>1 and
// <name>2; the first has the higher priority, so it is MASTER at start.
func ClusterNodes(name string) []Node {
	return []Node{{name + "1", 150}, {name + "2", 100}}
}

// Nodes are the nodes of the cluster named lb: lb1 and lb2.
var Nodes = ClusterNodes("lb")

// Paths is where a node keeps its files and how its daemons run.
type Paths struct {
	// HAProxy: RuntimeDir (admin socket), Log target (/dev/log or stdout),
	// User and Group to drop to ("" keeps the caller's), MaxConn.
	RuntimeDir, Log, User, Group string
	MaxConn                      int
	// CertFile is the site's PEM; "" serves plain HTTP.
	CertFile string
	// keepalived: the root-only include defining $IFACE and $AUTH_PASS, the
	// track script, and the notify scripts (NotifyBackup may be "").
	LocalInclude, CheckScript, NotifyMaster, NotifyBackup string
}

// ClusterHAProxy is the webstack HAProxy configuration in front of these
// web servers.
func ClusterHAProxy(servers []Server, siteName string, p Paths) HAProxy {
	return HAProxy{
		Servers:          servers,
		HTTPPort:         HTTPPort,
		HTTPSPort:        HTTPSPort,
		CertFile:         p.CertFile,
		HealthPath:       HealthPath,
		HealthHost:       siteName,
		MonitorAddr:      MonitorAddr,
		MonitorPath:      MonitorPath,
		StatsAddr:        StatsAddr,
		StatsUser:        StatsUser,
		StatsPasswordEnv: StatsPasswordEnv,
		RuntimeDir:       p.RuntimeDir,
		Log:              p.Log,
		User:             p.User,
		Group:            p.Group,
		MaxConn:          p.MaxConn,
	}
}

// ClusterBackend is the webstack backend of these web servers (none is
// valid), the file that completes a ClusterHAProxy without servers; see
// [RenderBackend].
func ClusterBackend(servers []Server, siteName string) Backend {
	return Backend{Name: WebBackend, Servers: servers, HealthPath: HealthPath, HealthHost: siteName}
}

// ClusterKeepalived is the webstack keepalived configuration of one node,
// paired with the other node's address: checks every second, FAULT after
// two failures, nopreempt.
func ClusterKeepalived(n Node, selfIP, peerIP string, p Paths) Keepalived {
	return Keepalived{
		RouterID:        n.Name,
		SourceIP:        selfIP,
		PeerIP:          peerIP,
		Priority:        n.Priority,
		VirtualRouterID: VirtualRouterID,
		AdvertInt:       1,
		LocalInclude:    p.LocalInclude,
		CheckScript:     p.CheckScript,
		CheckInterval:   1,
		CheckFall:       2,
		CheckRise:       2,
		NotifyMaster:    p.NotifyMaster,
		NotifyBackup:    p.NotifyBackup,
		ScriptUser:      "root",
	}
}
