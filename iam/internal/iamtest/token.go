package iamtest

import (
	"context"

	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentials fetches one access token for a service account.
func ClientCredentials(ctx context.Context, base, clientID, secret string) (string, error) {
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: base + "/oauth2/token"}
	tok, err := cc.Token(ctx)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}
