package provider

import (
	"slices"
	"strings"
	"testing"
)

func TestBuiltinRegistersEveryProviderUnderItsSpecName(t *testing.T) {
	registry := Builtin()
	want := []string{"dinie", "doku", "dupr", "oauth2", "podero", "setu"}
	if got := registry.Names(); !slices.Equal(got, want) {
		t.Fatalf("Builtin().Names() = %v, want %v", got, want)
	}
	for name, p := range registry {
		spec := p.Spec()
		if spec.Name != name || spec.Name != strings.ToLower(spec.Name) {
			t.Errorf("provider registered as %q has spec name %q", name, spec.Name)
		}
		if spec.DisplayName == "" || spec.Description == "" || !strings.HasPrefix(spec.Docs, "https://") {
			t.Errorf("%s: spec lacks a display name, description or https docs link: %+v", name, spec)
		}
		for _, env := range spec.Environments {
			if !strings.HasPrefix(env.TokenURL, "https://") {
				t.Errorf("%s: environment %s token URL %q is not https", name, env.Name, env.TokenURL)
			}
		}
	}
}
