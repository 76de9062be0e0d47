package guardrails

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/foobar/webstack/internal/mocks"
)

// haproxySection is one section of a haproxy.cfg.
type haproxySection struct {
	Kind, Name string
	Binds      []string
	Stats      bool // stats enable / stats uri
	Monitor    bool // monitor-uri
}

var haproxySectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"peers": true, "resolvers": true, "userlist": true, "cache": true, "program": true,
	"http-errors": true, "ring": true, "mailers": true,
}

func parseHAProxy(cfg string) []haproxySection {
	var out []haproxySection
	sc := bufio.NewScanner(strings.NewReader(cfg))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(fields) == 0 {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' && haproxySectionKinds[fields[0]] {
			s := haproxySection{Kind: fields[0]}
			if len(fields) > 1 {
				s.Name = fields[1]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			continue
		}
		s := &out[len(out)-1]
		switch {
		case fields[0] == "bind" && len(fields) > 1:
			s.Binds = append(s.Binds, strings.Split(fields[1], ",")...)
		case fields[0] == "stats" && len(fields) > 1 && (fields[1] == "enable" || fields[1] == "uri"):
			s.Stats = true
		case fields[0] == "monitor-uri":
			s.Monitor = true
		}
	}
	return out
}

// bindIsLocal reports whether a HAProxy bind address is reachable from the
// host only (loopback or a UNIX socket), and its port.
func bindIsLocal(addr string) (local bool, port int) {
	for _, p := range []string{"unix@", "abns@", "fd@", "sockpair@", "/"} {
		if strings.HasPrefix(addr, p) {
			return true, 0
		}
	}
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "ipv4@"), "ipv6@")
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return false, 0
	}
	host := strings.Trim(addr[:i], "[]")
	port, _ = strconv.Atoi(addr[i+1:])
	if host == "localhost" {
		return true, port
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback(), port
}

// haproxyStatsPorts are the well-known stats and monitor ports of webstack's
// load balancers (lbconf): no security group rule may open them.
var haproxyStatsPorts = []int{8404, 8405}

// WS032: HAProxy's stats page is reachable from the host only.
func checkHAProxyStats(g *Graph) []Finding {
	var out []Finding
	ports := append([]int(nil), haproxyStatsPorts...)
	for _, f := range g.bundleFiles("haproxy.cfg") {
		sections := parseHAProxy(f.Content)
		statsByDefault := false
		for _, s := range sections {
			if s.Kind == "defaults" && s.Stats {
				statsByDefault = true
			}
		}
		for _, s := range sections {
			if s.Kind != "frontend" && s.Kind != "listen" {
				continue
			}
			stats := s.Stats || statsByDefault
			for _, b := range s.Binds {
				local, port := bindIsLocal(b)
				if (stats || s.Monitor) && port != 0 && !contains(intStrings(ports), strconv.Itoa(port)) {
					ports = append(ports, port)
				}
				if stats && !local {
					out = append(out, flag(f.Object, "%s: %s %s serves the stats page on %s: bind it to 127.0.0.1 and reach it through an SSM port forward", f.Path, s.Kind, s.Name, b))
				}
			}
		}
	}
	return append(out, statsPortRules(g, ports)...)
}

func intStrings(xs []int) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.Itoa(x)
	}
	return out
}

// bucketNames are the names a bucket is referred to by: its id and its
// bucket name.
func bucketNames(b *mocks.Resource) map[string]bool {
	names := map[string]bool{b.ID: true}
	if s := b.Str("bucket"); s != "" {
		names[s] = true
	}
	if s := str(b.Out("bucket")); s != "" {
		names[s] = true
	}
	delete(names, "")
	return names
}

// bucketConfig returns the resources of a type that configure bucket b.
func (g *Graph) bucketConfig(b *mocks.Resource, typ string) []*mocks.Resource {
	names := bucketNames(b)
	var out []*mocks.Resource
	for _, r := range g.OfType(typ) {
		if names[r.Str("bucket")] {
			out = append(out, r)
		}
	}
	return out
}

// WS033: the bucket's public access is fully blocked.
func checkBucketPublicAccess(g *Graph) []Finding {
	flags := []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"}
	var out []Finding
	for _, b := range g.OfType(bucketV2T, bucketT) {
		blocks := g.bucketConfig(b, publicAccessT)
		if len(blocks) == 0 {
			out = append(out, flag(b, "has no public access block"))
			continue
		}
		for _, pab := range blocks {
			var off []string
			for _, f := range flags {
				if !pab.Bool(f) {
					off = append(off, f)
				}
			}
			if len(off) > 0 {
				out = append(out, flag(pab, "public access block of bucket %s leaves %s off", b.Name, strings.Join(off, ", ")))
			}
		}
	}
	return out
}

// WS034: the bucket encrypts what it stores.
func checkBucketEncryption(g *Graph) []Finding {
	return each(g, func(b *mocks.Resource) string {
		ok := b.Str("serverSideEncryptionConfiguration.rule.applyServerSideEncryptionByDefault.sseAlgorithm") != ""
		for _, c := range g.bucketConfig(b, bucketSSEV2T) {
			list, _ := mocks.Reveal(c.In("rules")).([]any)
			for i := range list {
				if c.Str(fmt.Sprintf("rules.%d.applyServerSideEncryptionByDefault.sseAlgorithm", i)) != "" {
					ok = true
				}
			}
		}
		if !ok {
			return "has no default encryption (BucketServerSideEncryptionConfigurationV2 with an sseAlgorithm)"
		}
		return ""
	}, bucketV2T, bucketT)
}

// WS035: the bucket keeps old versions.
func checkBucketVersioning(g *Graph) []Finding {
	return each(g, func(b *mocks.Resource) string {
		for _, v := range g.bucketConfig(b, bucketVersionV2T) {
			if v.Str("versioningConfiguration.status") == "Enabled" {
				return ""
			}
		}
		if !b.Bool("versioning.enabled") {
			return "versioning is not enabled: a bad bundle or release could not be rolled back"
		}
		return ""
	}, bucketV2T, bucketT)
}

// WS036: the bucket refuses requests without TLS.
func checkBucketTLS(g *Graph) []Finding {
	var out []Finding
	for _, b := range g.OfType(bucketV2T, bucketT) {
		var arns []string
		partition := "aws" // the bucket's own, when its ARN is known
		if a := str(b.Out("arn")); strings.HasPrefix(a, "arn:") {
			partition = strings.SplitN(a, ":", 3)[1]
		}
		for name := range bucketNames(b) {
			arns = append(arns, "arn:"+partition+":s3:::"+name)
		}
		if a := str(b.Out("arn")); a != "" {
			arns = append(arns, a)
		}
		docs := []string{b.Str("policy")}
		for _, p := range g.bucketConfig(b, bucketPolicyT) {
			docs = append(docs, p.Str("policy"))
		}
		ok := false
		for _, d := range docs {
			for _, st := range parsePolicy(d) {
				if st.denyInsecureTransport() && st.coversAny(arns, "") && st.coversAny(arns, "/*") {
					ok = true
				}
			}
		}
		if !ok {
			out = append(out, flag(b, "no bucket policy denies requests without TLS (Deny s3:* on the bucket and its objects when aws:SecureTransport is false)"))
		}
	}
	return out
}
