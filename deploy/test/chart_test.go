package deploytest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const fullname = "chat-crypttalk"

// valueSet is one documented way to install the chart.
type valueSet struct {
	name    string
	file    string // under testdata; "" for the chart's defaults
	cluster bool
	// secrets are strings of the value set that must appear in no
	// ConfigMap and no literal environment value.
	secrets []string
}

var valueSets = []valueSet{
	{name: "default"},
	{name: "embedded-pvc", file: "embedded-pvc.yaml"},
	{name: "cluster", file: "cluster.yaml", cluster: true, secrets: []string{"mongo-PASSWORD-s3cret", "redis-PASSWORD-s3cret"}},
	{name: "cluster-existing-secrets", file: "cluster-existing-secrets.yaml", cluster: true},
}

func (v valueSet) files() []string {
	if v.file == "" {
		return nil
	}
	return []string{filepath.Join("testdata", v.file)}
}

func renderSet(t *testing.T, v valueSet) *manifests {
	t.Helper()
	out, err := render(t, v.files())
	if err != nil {
		t.Fatalf("%s: render failed: %v", v.name, err)
	}
	m, err := decodeStrict(out)
	if err != nil {
		t.Fatalf("%s: strict decode: %v", v.name, err)
	}
	return m
}

func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, v := range valueSets {
		args := []string{"lint", "--strict", chartDir()}
		for _, f := range v.files() {
			args = append(args, "-f", f)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%s: %v\n%s", v.name, err, out)
		}
	}
}

// TestChartRendersEveryValueSet runs every check on every documented value set.
func TestChartRendersEveryValueSet(t *testing.T) {
	t.Parallel()
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			m := renderSet(t, v)
			checkMode(t, v, m)
			checkPods(t, m)
			checkNoSecretLiterals(t, v, m)
			checkGracePeriod(t, m)
			checkServicesAndIngress(t, m)
			checkNetworkPolicy(t, v, m)
			checkChecksums(t, m)
			checkConfig(t, v, m)
			checkKeptSecrets(t, m)
			checkServiceMonitor(t, m)
		})
	}
}

// checkMode: one node keeps its data on a PVC and is replaced, never doubled;
// a cluster rolls with surge and has a PDB and spread.
func checkMode(t *testing.T, v valueSet, m *manifests) {
	t.Helper()
	d := m.only(t)
	spec := d.Spec.Template.Spec
	data := volume(spec.Volumes, "data")
	if data == nil {
		t.Fatal("no data volume")
	}
	if !v.cluster {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("embedded mode: want replicas 1, got %v", d.Spec.Replicas)
		}
		if d.Spec.Strategy.Type != "Recreate" {
			t.Errorf("embedded mode: want strategy Recreate (one process opens the database), got %q", d.Spec.Strategy.Type)
		}
		if data.PersistentVolumeClaim == nil {
			t.Fatalf("embedded mode: /data must be a PVC (an emptyDir loses every user on restart), got %+v", data.VolumeSource)
		}
		if len(m.PVCs) != 1 || m.PVCs[0].Name != data.PersistentVolumeClaim.ClaimName {
			t.Errorf("embedded mode: want the chart's PVC %q rendered, got %d PVCs", data.PersistentVolumeClaim.ClaimName, len(m.PVCs))
		} else if m.PVCs[0].Annotations["helm.sh/resource-policy"] != "keep" {
			t.Error("the data PVC must be kept on uninstall")
		}
		if len(m.PDBs)+len(m.HPAs) != 0 {
			t.Error("embedded mode renders no PDB or HPA (one node cannot be disrupted and stay up)")
		}
		return
	}
	if d.Spec.Strategy.Type != "RollingUpdate" || d.Spec.Strategy.RollingUpdate == nil ||
		d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Errorf("cluster mode: want RollingUpdate with maxUnavailable 0, got %+v", d.Spec.Strategy)
	}
	if len(m.PVCs) != 0 || data.EmptyDir == nil {
		t.Errorf("cluster mode keeps nothing on disk: want an emptyDir /data and no PVC")
	}
	if len(m.PDBs) != 1 || m.PDBs[0].Spec.MaxUnavailable == nil {
		t.Errorf("cluster mode: want one PodDisruptionBudget with maxUnavailable, got %d", len(m.PDBs))
	} else if !mapsEqual(m.PDBs[0].Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Error("PDB selector differs from the Deployment's")
	}
	if len(spec.TopologySpreadConstraints) == 0 || spec.TopologySpreadConstraints[0].TopologyKey != "kubernetes.io/hostname" {
		t.Error("cluster mode: want topology spread across nodes")
	}
	if strings.Contains(v.name, "existing") {
		if len(m.HPAs) != 1 || d.Spec.Replicas != nil {
			t.Fatalf("autoscaling: want one HPA and no replicas on the Deployment (the HPA owns it), got %d HPAs, replicas %v", len(m.HPAs), d.Spec.Replicas)
		}
		h := m.HPAs[0]
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name || *h.Spec.MinReplicas < 2 {
			t.Errorf("HPA targets %+v min %d", h.Spec.ScaleTargetRef, *h.Spec.MinReplicas)
		}
	}
}

// checkPods: Pod Security "restricted" on every pod, the test pod included,
// and the probes on the server.
func checkPods(t *testing.T, m *manifests) {
	t.Helper()
	pods := m.podSpecs()
	if _, ok := pods["Pod/"+fullname+"-test-health"]; !ok {
		t.Error("no helm test pod")
	}
	for name, p := range pods {
		if p.HostNetwork || p.HostPID || p.HostIPC {
			t.Errorf("%s: host namespaces", name)
		}
		for _, vol := range p.Volumes {
			if vol.HostPath != nil {
				t.Errorf("%s: hostPath volume %s", name, vol.Name)
			}
		}
		psc := p.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pod securityContext must set runAsNonRoot and a non-zero runAsUser: %+v", name, psc)
		}
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod seccompProfile must be RuntimeDefault", name)
		}
		for _, c := range slices.Concat(p.InitContainers, p.Containers) {
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s/%s: no securityContext", name, c.Name)
				continue
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s/%s: allowPrivilegeEscalation must be false", name, c.Name)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s/%s: privileged", name, c.Name)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
				t.Errorf("%s/%s: capabilities must drop ALL and add none: %+v", name, c.Name, sc.Capabilities)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: readOnlyRootFilesystem must be true", name, c.Name)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Errorf("%s/%s: runs as root", name, c.Name)
			}
			if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s/%s: seccomp %s", name, c.Name, sc.SeccompProfile.Type)
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					t.Errorf("%s/%s: hostPort", name, c.Name)
				}
			}
		}
	}
	c := server(t, m)
	for probe, want := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"startup": {c.StartupProbe, "/healthz"}, "liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if want.p == nil || want.p.HTTPGet == nil {
			t.Errorf("%s probe missing", probe)
			continue
		}
		if want.p.HTTPGet.Path != want.path || want.p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe: want %s on port http, got %s on %s", probe, want.path, want.p.HTTPGet.Path, want.p.HTTPGet.Port.String())
		}
	}
	// A shared dependency blip must not empty the Service at once: the
	// readiness probe tolerates at least 30 s of 503 from /readyz.
	if r := c.ReadinessProbe; r != nil && r.PeriodSeconds*r.FailureThreshold < 30 {
		t.Errorf("readiness gives up after %ds: a MongoDB or Redis blip would take every pod out", r.PeriodSeconds*r.FailureThreshold)
	}
}

// secretEnv are the variables of docs/CONFIGURATION.md that carry secrets.
var secretEnv = []string{"CRYPTTALK_MASTER_KEYS", "CRYPTTALK_KEYS_MASTER_KEYS", "CRYPTTALK_ADMIN_TOKEN", "CRYPTTALK_KEYS_ADMIN_TOKEN", "MONGO_URL", "CRYPTTALK_STORE_MONGO_URL", "REDIS_URL", "CRYPTTALK_BUS_REDIS_URL"}

// checkNoSecretLiterals: secrets reach pods from Secrets only, never from a
// ConfigMap or a literal env value (both show in `kubectl describe`).
func checkNoSecretLiterals(t *testing.T, v valueSet, m *manifests) {
	t.Helper()
	secrets := slices.Clone(v.secrets)
	for _, s := range m.Secrets {
		for k, val := range s.Data {
			if len(val) < 8 {
				t.Errorf("Secret %s/%s is empty or too short", s.Name, k)
			}
			secrets = append(secrets, string(val))
		}
		for _, val := range s.StringData {
			secrets = append(secrets, val)
		}
	}
	for _, cm := range m.ConfigMaps {
		for k, val := range cm.Data {
			for _, s := range secrets {
				if strings.Contains(val, s) {
					t.Errorf("ConfigMap %s key %s contains a secret value", cm.Name, k)
				}
			}
			if regexp.MustCompile(`(?i)(master_keys|admin_token|mongo_url|redis_url)\s*:`).MatchString(val) {
				t.Errorf("ConfigMap %s key %s sets a secret key", cm.Name, k)
			}
		}
	}
	for name, p := range m.podSpecs() {
		for _, c := range slices.Concat(p.InitContainers, p.Containers) {
			for _, e := range c.Env {
				if slices.Contains(secretEnv, e.Name) && e.ValueFrom == nil {
					t.Errorf("%s/%s: %s is a literal; it must come from a Secret", name, c.Name, e.Name)
				}
				for _, s := range secrets {
					if e.Value != "" && strings.Contains(e.Value, s) {
						t.Errorf("%s/%s: env %s holds a secret value", name, c.Name, e.Name)
					}
				}
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && slices.Contains(secretEnv, e.Name) {
					t.Errorf("%s/%s: %s from a ConfigMap", name, c.Name, e.Name)
				}
			}
			for _, e := range c.Args {
				for _, s := range secrets {
					if strings.Contains(e, s) {
						t.Errorf("%s/%s: a secret in args", name, c.Name)
					}
				}
			}
		}
	}
}

// serverConfig is the part of the server's config file the chart sets.
type serverConfig struct {
	Server struct {
		ServerName      string   `json:"server_name"`
		TrustedProxies  []string `json:"trusted_proxies"`
		ShutdownTimeout string   `json:"shutdown_timeout"`
	} `json:"server"`
}

func configOf(t *testing.T, m *manifests) serverConfig {
	t.Helper()
	cm := m.configMap(fullname)
	if cm == nil {
		t.Fatal("no config ConfigMap")
	}
	var c serverConfig
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &c); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	return c
}

// checkGracePeriod: Kubernetes must not SIGKILL a node that is still
// draining: grace >= preStop sleep + the server's shutdown timeout.
func checkGracePeriod(t *testing.T, m *manifests) {
	t.Helper()
	d := m.only(t)
	c := server(t, m)
	timeout, err := time.ParseDuration(configOf(t, m).Server.ShutdownTimeout)
	if err != nil || timeout <= 0 {
		t.Fatalf("server.shutdown_timeout %q: %v (the server refuses a non-positive one)", configOf(t, m).Server.ShutdownTimeout, err)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep: sockets would close while the endpoint still gets traffic")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace < preStop+timeout {
		t.Errorf("terminationGracePeriodSeconds %s < preStop %s + shutdown timeout %s", grace, preStop, timeout)
	}
}

// checkServicesAndIngress: the admin port has its own ClusterIP Service and
// the Ingress routes only to the public one.
func checkServicesAndIngress(t *testing.T, m *manifests) {
	t.Helper()
	c := server(t, m)
	adminPort := containerPort(t, c, "admin")
	pub, adm := m.service(fullname), m.service(fullname+"-admin")
	if pub == nil || adm == nil {
		t.Fatalf("want Services %s and %s-admin", fullname, fullname)
	}
	for _, p := range pub.Spec.Ports {
		if p.TargetPort.String() == "admin" || p.TargetPort.IntValue() == int(adminPort) || p.Port == adminPort {
			t.Errorf("public Service exposes the admin port: %+v", p)
		}
	}
	if adm.Spec.Type != corev1.ServiceTypeClusterIP || len(adm.Spec.Ports) != 1 || adm.Spec.Ports[0].TargetPort.String() != "admin" {
		t.Errorf("admin Service must be ClusterIP on the admin port only: %+v", adm.Spec)
	}
	if len(m.Ingresses) > 0 {
		var blocked []string
		for _, ing := range m.Ingresses {
			if ing.Name != fullname+"-block-admin" {
				continue
			}
			if ing.Annotations["nginx.ingress.kubernetes.io/denylist-source-range"] != "0.0.0.0/0,::/0" {
				t.Errorf("the admin-path Ingress does not deny: %v", ing.Annotations)
			}
			for _, r := range ing.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					blocked = append(blocked, p.Path)
				}
			}
		}
		slices.Sort(blocked)
		if !slices.Equal(blocked, []string{"/_admin", "/metrics"}) {
			t.Errorf("admin paths of the public listener claimed by the blocking Ingress: %v, want /_admin and /metrics", blocked)
		}
	}
	for _, ing := range m.Ingresses {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != fullname || (b.Port.Name != "http" && b.Port.Number != pub.Spec.Ports[0].Port) {
					t.Errorf("Ingress %s routes to %+v: only the public Service's http port is allowed", ing.Name, b)
				}
			}
		}
	}
}

// checkNetworkPolicy: present, on the server's pods, covering exactly the
// container ports; the admin port is not open to the ingress controller.
func checkNetworkPolicy(t *testing.T, v valueSet, m *manifests) {
	t.Helper()
	if len(m.NetworkPolicies) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(m.NetworkPolicies))
	}
	np := m.NetworkPolicies[0]
	d := m.only(t)
	if !mapsEqual(np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("NetworkPolicy selects %v, the server is %v", np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	c := server(t, m)
	httpPort, adminPort := containerPort(t, c, "http"), containerPort(t, c, "admin")
	var ports []int32
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Error("an ingress rule without from is open to every pod")
		}
		for _, p := range rule.Ports {
			ports = append(ports, int32(p.Port.IntValue()))
			if int32(p.Port.IntValue()) == adminPort {
				for _, f := range rule.From {
					if f.NamespaceSelector != nil && f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "ingress-nginx" {
						t.Error("the ingress controller reaches the admin port")
					}
				}
			}
		}
	}
	slices.Sort(ports)
	want := []int32{httpPort, adminPort}
	slices.Sort(want)
	if !slices.Equal(ports, want) {
		t.Errorf("NetworkPolicy ingress ports %v, container ports %v", ports, want)
	}
	var egress []int
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			egress = append(egress, p.Port.IntValue())
		}
	}
	wantEgress := []int{53, 443}
	if v.cluster {
		wantEgress = append(wantEgress, 27017, 6379)
	}
	for _, p := range wantEgress {
		if !slices.Contains(egress, p) {
			t.Errorf("egress lacks port %d (have %v)", p, egress)
		}
	}
}

// checkChecksums: pods roll when the config or a chart-managed Secret
// changes; checksum/config is the hash of the rendered ConfigMap.
func checkChecksums(t *testing.T, m *manifests) {
	t.Helper()
	ann := m.only(t).Spec.Template.Annotations
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, k := range []string{"checksum/config", "checksum/secrets"} {
		if !hex64.MatchString(ann[k]) {
			t.Errorf("pod annotation %s = %q, want a sha256", k, ann[k])
		}
	}
	raw := m.raw["ConfigMap/"+fullname]
	body := raw[strings.Index(raw, "\n")+1:] // after "# Source: ..."
	sum := sha256.Sum256([]byte(body))
	if hex.EncodeToString(sum[:]) != ann["checksum/config"] {
		t.Errorf("checksum/config is not the hash of the rendered ConfigMap")
	}
}

// checkConfig: the values reach the server's config.
func checkConfig(t *testing.T, v valueSet, m *manifests) {
	t.Helper()
	c := configOf(t, m)
	if c.Server.ServerName == "" || len(c.Server.TrustedProxies) == 0 {
		t.Errorf("config lacks server_name or trusted_proxies: %+v", c.Server)
	}
	if v.name == "cluster" && !slices.Equal(c.Server.TrustedProxies, []string{"10.42.0.0/16"}) {
		t.Errorf("trustedProxies from values not applied: %v", c.Server.TrustedProxies)
	}
	env := envMap(server(t, m))
	for _, k := range []string{"CRYPTTALK_MASTER_KEYS_FILE", "CRYPTTALK_ADMIN_TOKEN", "CRYPTTALK_FEDERATION_SIGNING_KEY_FILE"} {
		if _, ok := env[k]; !ok {
			t.Errorf("env %s missing", k)
		}
	}
	if v.cluster {
		for _, k := range []string{"MONGO_URL_FILE", "REDIS_URL_FILE"} {
			if _, ok := env[k]; !ok {
				t.Errorf("cluster mode: env %s missing", k)
			}
		}
	}
	if strings.Contains(v.name, "existing") {
		if len(m.Secrets) != 0 {
			t.Errorf("with every existingSecret set the chart must create no Secret, got %d", len(m.Secrets))
		}
		vol := volume(m.only(t).Spec.Template.Spec.Volumes, "secrets")
		var names []string
		for _, s := range vol.Projected.Sources {
			names = append(names, s.Secret.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"ops-master-keys", "ops-mongo", "ops-redis", "ops-signing-key"}) {
			t.Errorf("secret files from %v", names)
		}
		if ref := env["CRYPTTALK_ADMIN_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "ops-admin-token" {
			t.Errorf("admin token not from ops-admin-token: %+v", ref)
		}
	}
}

// checkKeptSecrets: generated secrets survive uninstall and are reused on
// upgrade (their template looks them up).
func checkKeptSecrets(t *testing.T, m *manifests) {
	t.Helper()
	// The names chart 0.1.0 gave them: under another name an upgrade's lookup
	// would find nothing and generate new master keys over the live data.
	want := map[string]bool{fullname + "-keys": true, fullname + "-admin": true, fullname + "-signing-key": true, fullname + "-urls": true}
	for _, s := range m.Secrets {
		if !want[s.Name] {
			t.Errorf("Secret %s: not one of the chart's stable names", s.Name)
		}
	}
	for _, s := range m.Secrets {
		if strings.HasSuffix(s.Name, "-urls") {
			continue // from values, rendered the same every time
		}
		if s.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("generated Secret %s is not kept on uninstall", s.Name)
		}
	}
	for _, s := range m.Secrets {
		if s.Name == fullname+"-keys" {
			key := string(s.Data["master-keys"])
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "v1:"))
			if !strings.HasPrefix(key, "v1:") || err != nil || len(raw) != 32 {
				t.Errorf("generated master keys %q are not v1:<base64 of 32 bytes>", "[redacted]")
			}
		}
	}
}

func checkServiceMonitor(t *testing.T, m *manifests) {
	t.Helper()
	for _, sm := range m.ServiceMonitors {
		adm := m.service(fullname + "-admin")
		for k, v := range sm.Spec.Selector.MatchLabels {
			if adm.Labels[k] != v {
				t.Errorf("ServiceMonitor selects %s=%s, not on the admin Service", k, v)
			}
		}
		if m.service(fullname).Labels["app.kubernetes.io/component"] == sm.Spec.Selector.MatchLabels["app.kubernetes.io/component"] {
			t.Error("ServiceMonitor also selects the public Service")
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
		}
	}
}

func TestChartTemplatesLookUpGeneratedSecrets(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(chartDir(), "templates", "secrets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`lookup "v1" "Secret"`, "helm.sh/resource-policy: keep", "existingSecret"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("secrets.yaml lacks %q", want)
		}
	}
	notes, err := os.ReadFile(filepath.Join(chartDir(), "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GitOps", "masterKeys.existingSecret", "ctl health", "port-forward"} {
		if !strings.Contains(string(notes), want) {
			t.Errorf("NOTES.txt lacks %q", want)
		}
	}
}

// TestChartRefusesBrokenValues: the guards fail with a message that says
// what to set, and the schema refuses wrong types and unknown keys.
func TestChartRefusesBrokenValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sets []string
		want string
	}{
		{"replicas without mongo", []string{"replicaCount=2"}, "needs MongoDB: set mongo.url or mongo.existingSecret"},
		{"replicas without redis", []string{"replicaCount=2", "mongo.url=mongodb://m:27017/ct"}, "needs Redis: set redis.url or redis.existingSecret"},
		{"autoscaling without mongo", []string{"autoscaling.enabled=true"}, "needs MongoDB"},
		{"grace below shutdown", []string{"terminationGracePeriodSeconds=5"}, "terminationGracePeriodSeconds (5) must be at least"},
		{"grace equals timeout without preStop", []string{"shutdown.timeoutSeconds=30"}, "must be at least shutdown.preStopSeconds + shutdown.timeoutSeconds (35)"},
		{"secret in env", []string{"env.MONGO_URL=mongodb://u:p@m/x"}, "env.MONGO_URL would put a secret in the pod spec"},
		{"secret in config", []string{"config.keys.master_keys=v1:AAAA"}, "config.keys.master_keys would put a secret in the ConfigMap"},
		{"url in config", []string{"config.bus.redis_url=redis://r"}, "config.bus.redis_url would put a secret"},
		{"schema: string replicas", []string{"replicaCount=two"}, "replicaCount"},
		{"schema: zero replicas", []string{"replicaCount=0"}, "replicaCount"},
		{"schema: bool as string", []string{"ingress.enabled=yes"}, "ingress/enabled"},
		{"schema: zero shutdown", []string{"shutdown.timeoutSeconds=0"}, "timeoutSeconds"},
		{"schema: unknown key", []string{"replicas=2"}, "replicas"},
		{"schema: bad mongo url", []string{"mongo.url=postgres://x"}, "mongo/url"},
		{"schema: port range", []string{"admin.port=70000"}, "admin/port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := render(t, nil, c.sets...)
			if err == nil {
				t.Fatalf("render with %v succeeded, want an error containing %q\n%.400s", c.sets, c.want, out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// TestChartChecksumsFollowChanges: a config change or a Secret change rolls
// the pods; an unrelated change (replicas) does not touch checksum/config.
func TestChartChecksumsFollowChanges(t *testing.T) {
	t.Parallel()
	cluster := []string{filepath.Join("testdata", "cluster.yaml")}
	ann := func(sets ...string) map[string]string {
		out, err := render(t, cluster, sets...)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeStrict(out)
		if err != nil {
			t.Fatal(err)
		}
		return m.only(t).Spec.Template.Annotations
	}
	base := ann("masterKeys.existingSecret=k", "adminToken.existingSecret=a", "federation.signingKey.existingSecret=s")
	again := ann("masterKeys.existingSecret=k", "adminToken.existingSecret=a", "federation.signingKey.existingSecret=s")
	if !mapsEqual(base, again) {
		t.Fatal("two renders of the same values differ: pods would roll on every upgrade")
	}
	cfg := ann("masterKeys.existingSecret=k", "adminToken.existingSecret=a", "federation.signingKey.existingSecret=s", "config.limits.file_bytes=1000")
	if cfg["checksum/config"] == base["checksum/config"] {
		t.Error("a config change leaves checksum/config alone")
	}
	sec := ann("masterKeys.existingSecret=k", "adminToken.existingSecret=a", "federation.signingKey.existingSecret=s", "redis.url=redis://other:6379/0")
	if sec["checksum/secrets"] == base["checksum/secrets"] {
		t.Error("a Secret change leaves checksum/secrets alone")
	}
	if sec["checksum/config"] != base["checksum/config"] {
		t.Error("a Secret change moved checksum/config")
	}
}

func server(t *testing.T, m *manifests) *corev1.Container {
	t.Helper()
	for i, c := range m.only(t).Spec.Template.Spec.Containers {
		if c.Name == "crypttalkd" {
			return &m.only(t).Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatal("no crypttalkd container")
	return nil
}

func containerPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container has no port %q", name)
	return 0
}

func volume(vols []corev1.Volume, name string) *corev1.Volume {
	for i := range vols {
		if vols[i].Name == name {
			return &vols[i]
		}
	}
	return nil
}

func envMap(c *corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
