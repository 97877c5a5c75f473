package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeProtoJSON prints protobuf messages as one JSON array, with proto
// field names, so scripts see the API's own shape.
func writeProtoJSON[M proto.Message](w io.Writer, msgs []M) error {
	raw := make([]json.RawMessage, len(msgs))
	opts := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
	for i, m := range msgs {
		b, err := opts.Marshal(m)
		if err != nil {
			return err
		}
		raw[i] = b
	}
	return writeJSON(w, raw)
}

func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
