package audit

import (
	"errors"
	"strings"
)

// ErrSecret rejects a record that would carry a credential. Callers build
// records from names, never request bodies; this is the backstop.
var ErrSecret = errors.New("audit: record looks like it carries a secret")

// secretMarkers are substrings of values that are credentials: JWTs, the
// refresh-token and client-secret prefixes, bcrypt/argon2 hashes, PEM keys.
var secretMarkers = []string{"eyJ", "$argon2", "$2a$", "$2b$", "-----BEGIN", "password=", "secret=", "token="}

func checkNoSecrets(r *Record) error {
	for _, v := range []string{r.Principal, r.Action, r.Resource, r.Reason, r.SourceIP, r.RequestID} {
		for _, m := range secretMarkers {
			if strings.Contains(v, m) {
				return ErrSecret
			}
		}
	}
	return nil
}
