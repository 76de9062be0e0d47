package lbconf_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/testtools"
)

// vrrpPass is the VRRP password of the tests' local includes.
const vrrpPass = "Ab3dE6gH"

// keepalivedNode writes what k refers to into a new directory, as the boot
// script does on a host: the local include (interface lbt0) and the
// scripts. It returns the node with its paths pointing there, and the
// directory.
func keepalivedNode(t *testing.T, k lbconf.Keepalived, authPass string) (lbconf.Keepalived, string) {
	t.Helper()
	dir := t.TempDir()
	k.LocalInclude = writeFile(t, dir, "local.conf", "$IFACE=lbt0\n$AUTH_PASS="+authPass+"\n", 0o600)
	k.CheckScript = writeFile(t, dir, "lb-check", lbconf.CheckScript("127.0.0.1:8405", "/lbhealth"), 0o755)
	k.NotifyMaster = writeFile(t, dir, "lb-takeover", lbconf.TakeoverScript(filepath.Join(dir, "lb.env"), lbconf.MarkerAddr(k.VirtualRouterID), filepath.Join(dir, "takeover.lock")), 0o755)
	if k.NotifyBackup != "" {
		k.NotifyBackup = writeFile(t, dir, "lb-release", "#!/bin/sh\nexit 0\n", 0o755)
	}
	return k, dir
}

// needKeepalived returns the path of keepalived, or skips/fails the test
// when keepalived or what inNetns needs is missing.
func needKeepalived(t *testing.T) string {
	t.Helper()
	testtools.NeedRoot(t) // keepalived's script security checks need root, so does unshare
	testtools.Need(t, "unshare", "util-linux")
	testtools.Need(t, "ip", "iproute2")
	return testtools.Need(t, "keepalived", "keepalived")
}

// inNetns runs argv in a new network namespace holding a veth pair, lbt0
// (with address sourceIP) and lbt1, so that keepalived finds the interface
// the local include names whatever the host's interfaces are. It returns the
// combined output and the exit code.
func inNetns(t *testing.T, sourceIP string, argv ...string) (string, int) {
	t.Helper()
	setup := `ip link add lbt0 type veth peer name lbt1 && ip link set lbt0 up && ip link set lbt1 up && ` +
		`ip addr add ` + sourceIP + `/24 dev lbt0 && exec "$@"`
	return run(t, os.Environ(), "unshare", append([]string{"--net", "sh", "-c", setup, "sh"}, argv...)...)
}

// renderNode renders k into dir/keepalived.conf.
func renderNode(t *testing.T, k lbconf.Keepalived, dir string) string {
	t.Helper()
	cfg, err := lbconf.RenderKeepalived(k)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "keepalived.conf", cfg, 0o644)
}

func TestKeepalivedConfigIsValid(t *testing.T) {
	keepalived := needKeepalived(t)
	sandbox := lb2()
	sandbox.NotifyBackup = "/set/by/keepalivedNode"
	for name, k := range map[string]lbconf.Keepalived{"lb1": lb1(), "lb2": lb2(), "lb2 with NotifyBackup": sandbox} {
		t.Run(name, func(t *testing.T) {
			k, dir := keepalivedNode(t, k, vrrpPass)
			path := renderNode(t, k, dir)
			if out, code := inNetns(t, k.SourceIP, keepalived, "-t", "-f", path); code != 0 || out != "" {
				cfg, _ := os.ReadFile(path)
				t.Fatalf("keepalived -t: exit %d, want 0 and no output:\n%s\nconfig:\n%s", code, out, cfg)
			}
		})
	}
}

// TestKeepalivedConfigTestCatchesMistakes shows what "keepalived -t" rejects,
// which is why the renderer and the local include are the way they are.
func TestKeepalivedConfigTestCatchesMistakes(t *testing.T) {
	keepalived := needKeepalived(t)
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, k lbconf.Keepalived, cfgPath string)
		want  string
	}{
		{"missing local include", func(t *testing.T, k lbconf.Keepalived, _ string) {
			check(t, os.Remove(k.LocalInclude))
		}, "Config files missing"},
		{"spaces around = in the include", func(t *testing.T, k lbconf.Keepalived, _ string) {
			check(t, os.WriteFile(k.LocalInclude, []byte("$IFACE = lbt0\n$AUTH_PASS = "+vrrpPass+"\n"), 0o600))
		}, "Unknown keyword '$IFACE'"},
		{"password longer than 8", func(t *testing.T, k lbconf.Keepalived, _ string) {
			check(t, os.WriteFile(k.LocalInclude, []byte("$IFACE=lbt0\n$AUTH_PASS=Ab3dE6gHi\n"), 0o600))
		}, "Truncating auth_pass to 8 characters"},
		{"no VIP at all", func(t *testing.T, _ lbconf.Keepalived, cfgPath string) {
			cfg, err := os.ReadFile(cfgPath)
			check(t, err)
			noVIP := regexp.MustCompile(`(?s)\n    virtual_ipaddress \{.*?\n    \}`).ReplaceAll(cfg, nil)
			check(t, os.WriteFile(cfgPath, noVIP, 0o644))
		}, "No VIP specified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, dir := keepalivedNode(t, lb1(), vrrpPass)
			path := renderNode(t, k, dir)
			tc.spoil(t, k, path)
			out, code := inNetns(t, k.SourceIP, keepalived, "-t", "-f", path)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Errorf("keepalived -t: exit %d, want non-zero with %q:\n%s", code, tc.want, out)
			}
		})
	}
}

// TestKeepalivedIncludeParametersReachTheInstance starts keepalived for two
// seconds with its configuration dump on and checks that $IFACE and
// $AUTH_PASS from the included file were used inside vrrp_instance and its
// authentication block.
func TestKeepalivedIncludeParametersReachTheInstance(t *testing.T) {
	keepalived := needKeepalived(t)
	timeout := testtools.Need(t, "timeout", "coreutils")
	k, dir := keepalivedNode(t, lb1(), vrrpPass)
	path := renderNode(t, k, dir)
	pid := func(name string) string { return filepath.Join(dir, name+".pid") }
	out, _ := inNetns(t, k.SourceIP, timeout, "-s", "TERM", "2",
		keepalived, "--dont-fork", "--log-console", "--log-detail", "--dump-conf", "--vrrp", "-f", path,
		"--pid", pid("keepalived"), "--vrrp_pid", pid("vrrp"), "--checkers_pid", pid("checkers"))
	for _, want := range []string{
		"Interface = lbt0",
		"Password = " + vrrpPass,
		"Using src_ip = " + k.SourceIP,
		"Check unicast src : yes",
		"Preempt = disabled",
		"Wantstate = BACKUP",
		"Priority = 150",
		"Virtual Router ID = 51",
		strings.TrimSuffix(lbconf.MarkerAddr(51), "/32") + " dev lo scope host",
		"chk_haproxy weight 0",
		"Master rx lower pri state transition script = '" + k.NotifyMaster + "'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("keepalived's config dump lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("keepalived output:\n%s", out)
	}
}

// rejection is a change that makes a keepalived configuration invalid,
// and the field and value the error must name.
type rejection struct {
	name   string
	change func(*lbconf.Keepalived)
	field  string
	value  string
}

// wantRejected renders base changed by r and wants an error naming r's
// field and value.
func wantRejected(t *testing.T, base lbconf.Keepalived, r rejection) {
	t.Helper()
	r.change(&base)
	cfg, err := lbconf.RenderKeepalived(base)
	if err == nil {
		t.Fatalf("no error; rendered:\n%s", cfg)
	}
	if want := r.field + " " + r.value + ":"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestKeepalivedValidation(t *testing.T) {
	for _, tc := range []rejection{
		{"empty router id", func(k *lbconf.Keepalived) { k.RouterID = "" }, "Keepalived.RouterID", `""`},
		{"router id with space", func(k *lbconf.Keepalived) { k.RouterID = "lb 1" }, "Keepalived.RouterID", `"lb 1"`},
		{"bad source IP", func(k *lbconf.Keepalived) { k.SourceIP = "10.0.128.256" }, "Keepalived.SourceIP", `"10.0.128.256"`},
		{"IPv6 source", func(k *lbconf.Keepalived) { k.SourceIP = "fd00::10" }, "Keepalived.SourceIP", `"fd00::10"`},
		{"loopback source", func(k *lbconf.Keepalived) { k.SourceIP = "127.0.0.1" }, "Keepalived.SourceIP", `"127.0.0.1"`},
		{"empty peer", func(k *lbconf.Keepalived) { k.PeerIP = "" }, "Keepalived.PeerIP", `""`},
		{"multicast peer", func(k *lbconf.Keepalived) { k.PeerIP = "224.0.0.18" }, "Keepalived.PeerIP", `"224.0.0.18"`},
		{"peer is self", func(k *lbconf.Keepalived) { k.PeerIP = k.SourceIP }, "Keepalived.PeerIP", `"10.0.128.10"`},
		{"priority 0", func(k *lbconf.Keepalived) { k.Priority = 0 }, "Keepalived.Priority", "0"},
		{"priority 255", func(k *lbconf.Keepalived) { k.Priority = 255 }, "Keepalived.Priority", "255"},
		{"router id 0", func(k *lbconf.Keepalived) { k.VirtualRouterID = 0 }, "Keepalived.VirtualRouterID", "0"},
		{"router id 256", func(k *lbconf.Keepalived) { k.VirtualRouterID = 256 }, "Keepalived.VirtualRouterID", "256"},
		{"advert 0", func(k *lbconf.Keepalived) { k.AdvertInt = 0 }, "Keepalived.AdvertInt", "0"},
		{"relative include", func(k *lbconf.Keepalived) { k.LocalInclude = "local.conf" }, "Keepalived.LocalInclude", `"local.conf"`},
		{"include glob", func(k *lbconf.Keepalived) { k.LocalInclude = "/etc/keepalived/*.conf" }, "Keepalived.LocalInclude", `"/etc/keepalived/*.conf"`},
		{"empty check script", func(k *lbconf.Keepalived) { k.CheckScript = "" }, "Keepalived.CheckScript", `""`},
		{"check script with arguments", func(k *lbconf.Keepalived) { k.CheckScript = "/usr/bin/curl -f x" }, "Keepalived.CheckScript", `"/usr/bin/curl -f x"`},
		{"interval 0", func(k *lbconf.Keepalived) { k.CheckInterval = 0 }, "Keepalived.CheckInterval", "0"},
		{"fall 0", func(k *lbconf.Keepalived) { k.CheckFall = 0 }, "Keepalived.CheckFall", "0"},
		{"rise 0", func(k *lbconf.Keepalived) { k.CheckRise = 0 }, "Keepalived.CheckRise", "0"},
		{"empty notify master", func(k *lbconf.Keepalived) { k.NotifyMaster = "" }, "Keepalived.NotifyMaster", `""`},
		{"relative notify backup", func(k *lbconf.Keepalived) { k.NotifyBackup = "lb-release" }, "Keepalived.NotifyBackup", `"lb-release"`},
		{"empty script user", func(k *lbconf.Keepalived) { k.ScriptUser = "" }, "Keepalived.ScriptUser", `""`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantRejected(t, lb1(), tc) })
	}
}

func TestKeepalivedShape(t *testing.T) {
	for _, k := range []lbconf.Keepalived{lb1(), lb2()} {
		cfg, err := lbconf.RenderKeepalived(k)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(strings.SplitN(cfg, "\ninclude ", 2)[0], "#") || !strings.Contains(cfg, "\ninclude "+k.LocalInclude+"\n\nglobal_defs {") {
			t.Errorf("%s: the local include must come first", k.RouterID)
		}
		for _, want := range []string{
			"    state BACKUP\n    nopreempt\n",
			"    interface ${IFACE}\n",
			"        auth_pass ${AUTH_PASS}\n",
			// Adverts from an address that is not a listed peer are
			// dropped: the password is not the only guard.
			"    check_unicast_src\n",
			"    priority " + strconv.Itoa(k.Priority) + "\n",
			"    notify_master \"" + k.NotifyMaster + "\"\n",
			"    notify_master_rx_lower_pri \"" + k.NotifyMaster + "\"\n",
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s: keepalived.conf lacks %q", k.RouterID, want)
			}
		}
		for _, unwanted := range []string{`weight`, `notify_backup`, `notify_fault`, `notify_stop`, `state MASTER`, `preempt_delay`} {
			if regexp.MustCompile(`(?m)^\s*` + unwanted + `\b`).MatchString(cfg) {
				t.Errorf("%s: keepalived.conf has a %q line", k.RouterID, unwanted)
			}
		}
	}
}

// TestKeepalivedPeerIPs: PeerIPs lists every peer; a single PeerIPs entry
// renders what PeerIP does.
func TestKeepalivedPeerIPs(t *testing.T) {
	cfg, err := lbconf.RenderKeepalived(threeNodes())
	check(t, err)
	if want := "    unicast_peer {\n        10.0.136.10\n        10.0.136.27\n    }\n"; !strings.Contains(cfg, want) {
		t.Errorf("keepalived.conf lacks\n%s", want)
	}
	old, err := lbconf.RenderKeepalived(lb1())
	check(t, err)
	k := lb1()
	k.PeerIP, k.PeerIPs = "", []string{lb1().PeerIP}
	one, err := lbconf.RenderKeepalived(k)
	check(t, err)
	if one != old {
		t.Errorf("PeerIPs with PeerIP's address renders differently:\n%s", testtools.FirstDifference(old, one))
	}
	k.PeerIP = lb1().PeerIP // both, consistently
	if both, err := lbconf.RenderKeepalived(k); err != nil || both != old {
		t.Errorf("PeerIP among PeerIPs: %v", err)
	}
}

func TestKeepalivedPeerIPsValidation(t *testing.T) {
	for _, tc := range []rejection{
		{"bad peer", func(k *lbconf.Keepalived) { k.PeerIPs[1] = "10.0.136.300" }, "Keepalived.PeerIPs[1]", `"10.0.136.300"`},
		{"IPv6 peer", func(k *lbconf.Keepalived) { k.PeerIPs[0] = "fd00::10" }, "Keepalived.PeerIPs[0]", `"fd00::10"`},
		{"peer is self", func(k *lbconf.Keepalived) { k.PeerIPs[1] = k.SourceIP }, "Keepalived.PeerIPs[1]", `"10.0.128.10"`},
		{"duplicate peer", func(k *lbconf.Keepalived) { k.PeerIPs = append(k.PeerIPs, "10.0.136.10") }, "Keepalived.PeerIPs[2]", `"10.0.136.10"`},
		{"PeerIP not among PeerIPs", func(k *lbconf.Keepalived) { k.PeerIP = "10.0.136.99" }, "Keepalived.PeerIP", `"10.0.136.99"`},
		{"no peer at all", func(k *lbconf.Keepalived) { k.PeerIPs = []string{} }, "Keepalived.PeerIP", `""`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantRejected(t, threeNodes(), tc) })
	}
}

// TestKeepalivedThreeNodesIsValid runs keepalived -t on a node with two
// peers, as during a rolling replacement.
func TestKeepalivedThreeNodesIsValid(t *testing.T) {
	keepalived := needKeepalived(t)
	k, dir := keepalivedNode(t, threeNodes(), vrrpPass)
	path := renderNode(t, k, dir)
	if out, code := inNetns(t, k.SourceIP, keepalived, "-t", "-f", path); code != 0 || out != "" {
		cfg, _ := os.ReadFile(path)
		t.Fatalf("keepalived -t: exit %d, want 0 and no output:\n%s\nconfig:\n%s", code, out, cfg)
	}
}
