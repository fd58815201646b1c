package deploytest

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus Operator's CRD the chart
// uses; decoding it strictly catches a misspelt field as for built-in kinds.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is one render, decoded: every object by kind.
type manifests struct {
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	Services        []*corev1.Service
	Secrets         []*corev1.Secret
	ConfigMaps      []*corev1.ConfigMap
	Pods            []*corev1.Pod
	PVCs            []*corev1.PersistentVolumeClaim
	ServiceAccounts []*corev1.ServiceAccount
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
	PDBs            []*policyv1.PodDisruptionBudget
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	ServiceMonitors []*serviceMonitor
	// raw is each document's text by "Kind/name".
	raw map[string]string
}

// decodeStrict decodes every document of a render into its API type with
// unknown fields refused, so a field at the wrong level, a typo or a field of
// a newer API fails here instead of being dropped by the API server.
func decodeStrict(text string) (*manifests, error) {
	m := &manifests{raw: map[string]string{}}
	for _, doc := range splitDocs(text) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("document does not parse: %w\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // comments only
		}
		var err error
		key := head.Kind + "/" + head.Metadata.Name
		if _, dup := m.raw[key]; dup {
			return nil, fmt.Errorf("%s rendered twice", key)
		}
		m.raw[key] = doc
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			m.Deployments, err = appendStrict(m.Deployments, doc)
		case "apps/v1 StatefulSet":
			m.StatefulSets, err = appendStrict(m.StatefulSets, doc)
		case "v1 Service":
			m.Services, err = appendStrict(m.Services, doc)
		case "v1 Secret":
			m.Secrets, err = appendStrict(m.Secrets, doc)
		case "v1 ConfigMap":
			m.ConfigMaps, err = appendStrict(m.ConfigMaps, doc)
		case "v1 Pod":
			m.Pods, err = appendStrict(m.Pods, doc)
		case "v1 PersistentVolumeClaim":
			m.PVCs, err = appendStrict(m.PVCs, doc)
		case "v1 ServiceAccount":
			m.ServiceAccounts, err = appendStrict(m.ServiceAccounts, doc)
		case "networking.k8s.io/v1 Ingress":
			m.Ingresses, err = appendStrict(m.Ingresses, doc)
		case "networking.k8s.io/v1 NetworkPolicy":
			m.NetworkPolicies, err = appendStrict(m.NetworkPolicies, doc)
		case "policy/v1 PodDisruptionBudget":
			m.PDBs, err = appendStrict(m.PDBs, doc)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			m.HPAs, err = appendStrict(m.HPAs, doc)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			m.ServiceMonitors, err = appendStrict(m.ServiceMonitors, doc)
		default:
			return nil, fmt.Errorf("unexpected kind %s %s: add it to decodeStrict", head.APIVersion, head.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return m, nil
}

func appendStrict[T any](list []*T, doc string) ([]*T, error) {
	v := new(T)
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		return list, err
	}
	return append(list, v), nil
}

// splitDocs cuts a multi-document YAML stream at its "---" lines.
func splitDocs(text string) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		if strings.TrimRight(line, "\r\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

// podSpecs are every pod the render creates: workloads' templates and bare
// pods (the helm test pod), by a name for messages.
func (m *manifests) podSpecs() map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for _, d := range m.Deployments {
		out["Deployment/"+d.Name] = &d.Spec.Template.Spec
	}
	for _, s := range m.StatefulSets {
		out["StatefulSet/"+s.Name] = &s.Spec.Template.Spec
	}
	for _, p := range m.Pods {
		out["Pod/"+p.Name] = &p.Spec
	}
	return out
}

func (m *manifests) only(t *testing.T) *appsv1.Deployment {
	t.Helper()
	if len(m.Deployments) != 1 || len(m.StatefulSets) != 0 {
		t.Fatalf("want exactly one Deployment (the server), got %d Deployments and %d StatefulSets", len(m.Deployments), len(m.StatefulSets))
	}
	return m.Deployments[0]
}

func (m *manifests) service(name string) *corev1.Service {
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}
