package ctl

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/photoncloud/core/flaredb/client"
)

type kvOut struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

func (a *app) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Read a key (exit status 1 when it does not exist)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := a.arg(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			v, ok, err := a.kv.Get(ctx, key)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s", errNotFound, args[0])
			}
			return a.printKVs([]client.KV{{Key: key, Value: v}}, false)
		},
	}
}

func (a *app) putCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := a.arg(args[0])
			if err != nil {
				return err
			}
			val, err := a.arg(args[1])
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			if err := a.kv.Put(ctx, key, val); err != nil {
				return err
			}
			return a.printStatus("OK")
		},
	}
}

func (a *app) deleteCmd() *cobra.Command {
	var rangeEnd string
	var prefix bool
	cmd := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a key, or every key in [KEY, --range-end) or with a prefix",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := a.arg(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			switch {
			case prefix:
				err = a.kv.DeleteRange(ctx, key, prefixEnd(key))
			case rangeEnd != "":
				end, aerr := a.arg(rangeEnd)
				if aerr != nil {
					return aerr
				}
				err = a.kv.DeleteRange(ctx, key, end)
			default:
				err = a.kv.Delete(ctx, key)
			}
			if err != nil {
				return err
			}
			return a.printStatus("OK")
		},
	}
	cmd.Flags().StringVar(&rangeEnd, "range-end", "", "delete [KEY, range-end) instead of one key")
	cmd.Flags().BoolVar(&prefix, "prefix", false, "delete every key starting with KEY")
	return cmd
}

func (a *app) scanCmd() *cobra.Command {
	var limit int
	var reverse, keysOnly, prefix bool
	cmd := &cobra.Command{
		Use:   "scan [START [END]]",
		Short: "List keys in [START, END) in order (empty: the whole key space)",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var start, end []byte
			var err error
			if len(args) > 0 {
				if start, err = a.arg(args[0]); err != nil {
					return err
				}
			}
			if len(args) > 1 {
				if end, err = a.arg(args[1]); err != nil {
					return err
				}
			}
			if prefix {
				if len(args) != 1 {
					return fmt.Errorf("--prefix takes exactly one argument, the prefix")
				}
				end = prefixEnd(start)
			}
			var opts []client.ScanOption
			if reverse {
				opts = append(opts, client.Reverse())
			}
			if keysOnly {
				opts = append(opts, client.KeysOnly())
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			kvs, err := a.kv.Scan(ctx, start, end, limit, opts...)
			if err != nil {
				return err
			}
			return a.printKVs(kvs, keysOnly)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 1000, "return at most this many keys (0: no limit)")
	cmd.Flags().BoolVar(&reverse, "reverse", false, "descending order")
	cmd.Flags().BoolVar(&keysOnly, "keys-only", false, "print keys only")
	cmd.Flags().BoolVar(&prefix, "prefix", false, "scan the keys starting with START")
	return cmd
}

func (a *app) casCmd() *cobra.Command {
	var prev string
	var prevNotExists bool
	cmd := &cobra.Command{
		Use:   "cas KEY NEW_VALUE (--prev VALUE | --prev-not-exists)",
		Short: "Set KEY to NEW_VALUE only if it holds --prev (or does not exist); exit status 1 when it did not",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("prev") == prevNotExists {
				return fmt.Errorf("give exactly one of --prev and --prev-not-exists")
			}
			key, err := a.arg(args[0])
			if err != nil {
				return err
			}
			val, err := a.arg(args[1])
			if err != nil {
				return err
			}
			p, err := a.arg(prev)
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			res, err := a.kv.CompareAndSwap(ctx, client.CAS{Key: key, Value: val, Previous: p, PreviousNotExists: prevNotExists})
			if err != nil {
				return err
			}
			if err := a.printCAS(res); err != nil {
				return err
			}
			if !res.Succeeded {
				return fmt.Errorf("compare failed")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&prev, "prev", "", "the value KEY must hold")
	cmd.Flags().BoolVar(&prevNotExists, "prev-not-exists", false, "KEY must not exist")
	return cmd
}

// prefixEnd is the first key after every key starting with p (nil: none).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (a *app) printCAS(res client.CASResult) error {
	out := struct {
		Succeeded      bool   `json:"succeeded"`
		PreviousExists bool   `json:"previous_exists"`
		Previous       string `json:"previous,omitempty"`
	}{res.Succeeded, res.PreviousExists, a.show(res.Previous)}
	if a.output == "json" {
		return writeJSON(a.stdout, out)
	}
	prev := "(none)"
	if res.PreviousExists {
		prev = strconv.Quote(out.Previous)
	}
	return writeTable(a.stdout, []string{"SUCCEEDED", "PREVIOUS"}, [][]string{{strconv.FormatBool(res.Succeeded), prev}})
}

func (a *app) printKVs(kvs []client.KV, keysOnly bool) error {
	rows := make([]kvOut, len(kvs))
	for i, kv := range kvs {
		rows[i] = kvOut{Key: a.show(kv.Key)}
		if !keysOnly {
			rows[i].Value = a.show(kv.Value)
		}
	}
	if a.output == "json" {
		return writeJSON(a.stdout, rows)
	}
	header := []string{"KEY", "VALUE"}
	if keysOnly {
		header = header[:1]
	}
	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = []string{r.Key, r.Value}[:len(header)]
	}
	return writeTable(a.stdout, header, table)
}

func (a *app) printStatus(s string) error {
	if a.output == "json" {
		return writeJSON(a.stdout, map[string]string{"status": s})
	}
	_, err := fmt.Fprintln(a.stdout, s)
	return err
}
