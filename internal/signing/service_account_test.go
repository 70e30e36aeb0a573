package signing

import (
	"encoding/json"
	"strings"
	"testing"
)

// serviceAccountFile is a key file as Google's console downloads it.
func serviceAccountJSON(t *testing.T, edit func(map[string]any)) string {
	t.Helper()
	f := map[string]any{
		"type":                        "service_account",
		"project_id":                  "partner-project",
		"private_key_id":              "8f2c1b7e5d9a4c3b2a1f0e9d8c7b6a5f4e3d2c1b",
		"private_key":                 pkcs8(t, rsa2048()),
		"client_email":                "broker@partner-project.iam.gserviceaccount.com",
		"client_id":                   "112233445566778899000",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/broker%40partner-project.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}
	if edit != nil {
		edit(f)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseServiceAccountTakesTheKeyTheEmailAndTheTokenURI(t *testing.T) {
	sa, err := ParseServiceAccount(serviceAccountJSON(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if sa.ClientEmail != "broker@partner-project.iam.gserviceaccount.com" || sa.TokenURI != "https://oauth2.googleapis.com/token" {
		t.Errorf("service account = %+v", sa)
	}
	if sa.Key.Algorithm != RS256 || sa.Key.ID != "8f2c1b7e5d9a4c3b2a1f0e9d8c7b6a5f4e3d2c1b" {
		t.Errorf("key signs %s with kid %q, want RS256 with the file's private_key_id", sa.Key.Algorithm, sa.Key.ID)
	}
}

func TestParseServiceAccountRefusesWithoutQuotingTheFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{"text that is not JSON", "{not json", "is not JSON (syntax error at byte 2)"},
		{"a field of the wrong type", `{"type":"service_account","private_key":42}`, "fields have the wrong types"},
		{"another kind of credential", serviceAccountJSON(t, func(f map[string]any) { f["type"] = "authorized_user" }), `has type "authorized_user", not service_account`},
		{"no client_email", serviceAccountJSON(t, func(f map[string]any) { delete(f, "client_email") }), "has no client_email"},
		{"no private_key", serviceAccountJSON(t, func(f map[string]any) { delete(f, "private_key") }), "has no private_key"},
		{"no token_uri", serviceAccountJSON(t, func(f map[string]any) { delete(f, "token_uri") }), "has no token_uri"},
		{"a token_uri over plain http", serviceAccountJSON(t, func(f map[string]any) { f["token_uri"] = "http://oauth2.googleapis.com/token" }), "not an https URL"},
		{"a private_key that is not a key", serviceAccountJSON(t, func(f map[string]any) {
			f["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}), "private_key is a PEM block whose private key does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServiceAccount(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}
