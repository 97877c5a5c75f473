package snapshot

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Command returns the "snapshot" command group: status and restore, with
// etcdutl's flags where they apply.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Inspect and restore snapshots taken with etcdctl snapshot save",
	}
	cmd.AddCommand(statusCommand(), restoreCommand())
	return cmd
}

func statusCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status <filename>",
		Short: "Print a snapshot's hash, revision, key count and size",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := Status(args[0])
			if err != nil {
				return err
			}
			return printStatus(cmd.OutOrStdout(), format, info)
		},
	}
	cmd.Flags().StringVarP(&format, "write-out", "w", "simple", "output format: simple, table or json")
	return cmd
}

func printStatus(w io.Writer, format string, info Info) error {
	switch format {
	case "json":
		return json.NewEncoder(w).Encode(info)
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "HASH\tREVISION\tTOTAL KEYS\tTOTAL SIZE\t")
		fmt.Fprintf(tw, "%x\t%d\t%d\t%d B\t\n", info.Hash, info.Revision, info.TotalKey, info.TotalSize)
		return tw.Flush()
	case "simple", "":
		_, err := fmt.Fprintf(w, "%x, %d, %d, %d B\n", info.Hash, info.Revision, info.TotalKey, info.TotalSize)
		return err
	}
	return fmt.Errorf("unknown --write-out %q: want simple, table or json", format)
}

func restoreCommand() *cobra.Command {
	var (
		opts                                          RestoreOptions
		name, initialCluster, token, advertisePeerURL string
	)
	cmd := &cobra.Command{
		Use:   "restore <filename> --data-dir <dir> [--name ... --initial-cluster ...]",
		Short: "Build a fresh data directory for a new cluster from a snapshot",
		Long: `Restore writes the snapshot's keys, values and revisions into a new data
directory. Run it once per member of the new cluster, then start each member
on its directory with --initial-cluster-state=new and the same
--initial-cluster and --initial-cluster-token given here.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Snapshot = args[0]
			if opts.DataDir == "" {
				opts.DataDir = name + ".etcd"
			}
			if err := checkClusterFlags(name, initialCluster, advertisePeerURL); err != nil {
				return err
			}
			if err := Restore(opts); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored snapshot to %s (member %s of cluster token %q)\n", opts.DataDir, name, token)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.DataDir, "data-dir", "", "path to the data directory to create (default <name>.etcd)")
	fs.BoolVar(&opts.SkipHashCheck, "skip-hash-check", false, "accept a snapshot without its sha256 checksum (a copied store file)")
	fs.StringVar(&name, "name", "default", "human-readable name for this member")
	fs.StringVar(&initialCluster, "initial-cluster", "", "initial cluster configuration for restore bootstrap")
	fs.StringVar(&token, "initial-cluster-token", "etcd-cluster", "initial cluster token for the cluster during restore bootstrap")
	fs.StringVar(&advertisePeerURL, "initial-advertise-peer-urls", "", "list of this member's peer URLs to advertise to the rest of the cluster")
	return cmd
}

// checkClusterFlags catches the mistakes etcdutl catches: this member must
// be in --initial-cluster with the peer URLs it advertises.
func checkClusterFlags(name, initialCluster, advertise string) error {
	if initialCluster == "" && advertise == "" {
		return nil
	}
	var mine []string
	for _, part := range strings.Split(initialCluster, ",") {
		n, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("--initial-cluster entry %q: want name=url", part)
		}
		if n == name {
			mine = append(mine, u)
		}
	}
	if len(mine) == 0 {
		return fmt.Errorf("--name %q is not in --initial-cluster %q", name, initialCluster)
	}
	if advertise != "" {
		want := strings.Split(advertise, ",")
		slices.Sort(want)
		slices.Sort(mine)
		if !slices.Equal(want, mine) {
			return fmt.Errorf("--initial-cluster gives %s peer URLs %v, --initial-advertise-peer-urls is %v", name, mine, want)
		}
	}
	return nil
}
