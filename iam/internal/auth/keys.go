package auth

import (
	"context"
	"fmt"
	"time"
)

// RotateKeys rotates the signing key now when force is set, or when its
// signing deadline is within a seventh of the signing lifetime (a day by
// default, so a few failed attempts never stop token issuance). It then
// prunes keys no valid token can reference and persists the keyring if
// anything changed. It returns the kid of a new key, or "".
//
// Rotations are serialised so that an older keyring can never be saved over
// a newer one.
func (s *Service) RotateKeys(ctx context.Context, force bool) (string, error) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	now := s.cfg.Now()
	margin := s.keys.Options().SigningLifetime / 7
	var kid string
	changed := false
	if force || s.keys.RotationDue(now.Add(margin)) {
		var err error
		if kid, err = s.keys.Rotate(now); err != nil {
			// A full keyring rotates after pruning.
			s.keys.Prune(now)
			if kid, err = s.keys.Rotate(now); err != nil {
				return "", fmt.Errorf("auth: rotating signing key: %w", err)
			}
		}
		s.log.InfoContext(ctx, "signing key rotated", "kid", kid, "forced", force)
		add(ctx, s.metrics.rotations, "", "")
		changed = true
	}
	if dropped := s.keys.Prune(now); len(dropped) > 0 {
		s.log.InfoContext(ctx, "retired signing keys pruned", "kids", dropped)
		changed = true
	}
	if !changed {
		return "", nil
	}
	data, err := s.keys.Marshal()
	if err != nil {
		return "", fmt.Errorf("auth: encoding signing keys: %w", err)
	}
	if err := s.store.SaveKeyring(ctx, data); err != nil {
		return "", fmt.Errorf("auth: saving signing keys: %w", err)
	}
	return kid, nil
}

// Maintain runs RotateKeys and sweeps expired sessions every interval until
// ctx ends.
func (s *Service) Maintain(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := s.RotateKeys(ctx, false); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "signing key maintenance failed", "error", err.Error())
		}
		if n, err := s.store.Sweep(ctx, s.cfg.Now()); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweeping expired sessions failed", "error", err.Error())
		} else if n > 0 {
			s.log.DebugContext(ctx, "expired sessions swept", "records", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
