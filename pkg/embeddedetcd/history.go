package embeddedetcd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/klog/v2"
)

// MarkerFile, in the state dir, records that the embedded etcd was
// initialised there. Its data being missing later means it was lost.
const MarkerFile = "etcd-initialized"

// StartFreshFlag is the command-line flag that lets the server start with an
// empty embedded etcd although its state dir shows an earlier one.
const StartFreshFlag = "embedded-etcd-start-fresh"

// hasData reports whether dataDir holds an etcd member's data.
func hasData(dataDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dataDir, "member"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("etcd data dir[%s]: %w", dataDir, err)
	}
	return true, nil
}

// earlierRun returns the entries of stateDir that show a server ran there
// before: the marker, or snapshot and module dirs that are not empty.
func earlierRun(stateDir string) ([]string, error) {
	var found []string
	// Only a server that ran with data of its own leaves these behind.
	for _, name := range []string{MarkerFile, "snapshots", "modules"} {
		path := filepath.Join(stateDir, name)
		info, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("state dir[%s]: %w", stateDir, err)
		}
		if info.IsDir() {
			entries, err := os.ReadDir(path)
			if err != nil {
				return nil, fmt.Errorf("state dir[%s]: %w", stateDir, err)
			}
			if len(entries) == 0 {
				continue
			}
		}
		found = append(found, name)
	}
	return found, nil
}

// checkHistory refuses to start an empty etcd in a state dir that shows an
// earlier run, unless startFresh: the server would then serve no objects
// and sweep the snapshots of the controllers it no longer knows.
func checkHistory(stateDir, dataDir string, startFresh bool) error {
	present, err := hasData(dataDir)
	if err != nil || present {
		return err
	}
	found, err := earlierRun(stateDir)
	if err != nil || len(found) == 0 {
		return err
	}
	if startFresh {
		klog.InfoS("Starting the embedded etcd empty, as told, although the state dir was used before",
			"stateDir", stateDir, "dataDir", dataDir, "found", found)
		return nil
	}
	return fmt.Errorf("embedded etcd data %s is missing but state dir %s was used before (it has %s); "+
		"starting empty would lose every object and delete the controllers' snapshots: "+
		"restore %s from a backup, or start with --%s to begin with an empty store",
		filepath.Join(dataDir, "member"), stateDir, strings.Join(found, ", "), dataDir, StartFreshFlag)
}

// writeMarker records in stateDir that the embedded etcd was initialised.
func writeMarker(stateDir string) error {
	path := filepath.Join(stateDir, MarkerFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.WriteFile(path, []byte("The embedded etcd's data is under etcd/; do not remove it.\n"), 0o600); err != nil {
		return fmt.Errorf("writing etcd marker: %w", err)
	}
	return nil
}
