package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreIDIsKeptForLife: the first id is saved and reused, and a
// different --store-id later is refused rather than silently renaming the
// store its peers know.
func TestStoreIDIsKeptForLife(t *testing.T) {
	dir := t.TempDir()
	id, err := storeID(context.Background(), Config{DataDir: dir, StoreID: 7}, nil)
	if err != nil || id != 7 {
		t.Fatalf("first start: %d %v", id, err)
	}
	id, err = storeID(context.Background(), Config{DataDir: dir}, nil)
	if err != nil || id != 7 {
		t.Fatalf("restart: %d %v", id, err)
	}
	if _, err := storeID(context.Background(), Config{DataDir: dir, StoreID: 8}, nil); err == nil || !strings.Contains(err.Error(), "--store-id 8") {
		t.Fatalf("changed --store-id: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, storeIDFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storeID(context.Background(), Config{DataDir: dir}, nil); err == nil {
		t.Fatal("a corrupt store-id file was accepted")
	}
}
