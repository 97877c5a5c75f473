package engine

import (
	"bytes"
	"encoding/binary"
)

// Key prefixes; see the package documentation for the layout.
const (
	localPrefix      byte = 0x01
	regionMetaPrefix byte = 0x03
	dataPrefix       byte = 'z'
	dataPrefixEnd    byte = dataPrefix + 1

	regionStateSuffix byte = 0x01
	applyStateSuffix  byte = 0x02

	regionMetaKeyLen = 2 + 8 + 1
)

// DataKey returns the engine key holding userKey's value.
func DataKey(userKey []byte) []byte {
	k := make([]byte, 0, len(userKey)+1)
	k = append(k, dataPrefix)
	return append(k, userKey...)
}

// DecodeDataKey returns the user key of an engine data key, and false when
// key is not a data key.
func DecodeDataKey(key []byte) ([]byte, bool) {
	if len(key) == 0 || key[0] != dataPrefix {
		return nil, false
	}
	return key[1:], true
}

// DataSpan returns the engine span [lower, upper) holding the user keys in
// [start, end). An empty end means no upper bound.
func DataSpan(start, end []byte) (lower, upper []byte) {
	lower = DataKey(start)
	if len(end) == 0 {
		return lower, []byte{dataPrefixEnd}
	}
	return lower, DataKey(end)
}

// regionMetaKey builds the key of one piece of a region's metadata.
func regionMetaKey(regionID uint64, suffix byte) []byte {
	k := make([]byte, regionMetaKeyLen)
	k[0], k[1] = localPrefix, regionMetaPrefix
	binary.BigEndian.PutUint64(k[2:10], regionID)
	k[10] = suffix
	return k
}

// RegionStateKey is the key of a region's RegionLocalState.
func RegionStateKey(regionID uint64) []byte { return regionMetaKey(regionID, regionStateSuffix) }

// ApplyStateKey is the key of a region's RegionApplyState.
func ApplyStateKey(regionID uint64) []byte { return regionMetaKey(regionID, applyStateSuffix) }

// DecodeRegionStateKey returns the region id of a region state key, and
// false for any other key.
func DecodeRegionStateKey(key []byte) (uint64, bool) {
	if len(key) != regionMetaKeyLen || !bytes.HasPrefix(key, []byte{localPrefix, regionMetaPrefix}) ||
		key[10] != regionStateSuffix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[2:10]), true
}

// regionMetaSpan is the span holding every region's metadata.
func regionMetaSpan() (lower, upper []byte) {
	return []byte{localPrefix, regionMetaPrefix}, []byte{localPrefix, regionMetaPrefix + 1}
}
