package member

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/raft"
)

// memberID derives a member's 64-bit id from its peer URLs and the cluster
// token, so every member computes the same ids from --initial-cluster.
func memberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	sum := sha256.Sum256([]byte(strings.Join(urls, ",") + "\x00" + token))
	return binary.BigEndian.Uint64(sum[:8])
}

// clusterID derives the cluster's id from its initial members' ids.
func clusterID(ids []uint64) uint64 {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	h := sha256.New()
	for _, id := range sorted {
		h.Write(binary.BigEndian.AppendUint64(nil, id))
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

func serverID(id uint64) raft.ServerID { return raft.ServerID(strconv.FormatUint(id, 16)) }

func parseServerID(s raft.ServerID) (uint64, bool) {
	id, err := strconv.ParseUint(string(s), 16, 64)
	return id, err == nil
}

// HostPort returns host:port of an http URL.
func HostPort(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("%q: scheme must be http", raw)
	}
	if u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q: want http://host:port", raw)
	}
	return u.Host, nil
}

// InitialMember is one entry of --initial-cluster.
type InitialMember struct {
	Name     string
	PeerURLs []string
}

// ParseInitialCluster parses "name=url,name=url" (a name may repeat to give
// a member several peer URLs), keeping the order of first appearance.
func ParseInitialCluster(s string) ([]InitialMember, error) {
	var out []InitialMember
	index := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("initial cluster entry %q: want name=http://host:port", part)
		}
		if _, err := HostPort(u); err != nil {
			return nil, fmt.Errorf("initial cluster member %s: %w", name, err)
		}
		if i, seen := index[name]; seen {
			out[i].PeerURLs = append(out[i].PeerURLs, u)
			continue
		}
		index[name] = len(out)
		out = append(out, InitialMember{Name: name, PeerURLs: []string{u}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("initial cluster is empty")
	}
	return out, nil
}
