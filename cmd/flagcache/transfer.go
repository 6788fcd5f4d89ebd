package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/wire"
)

// exportFormat names the layout of an export file.
const exportFormat = "flagcache-export/1"

// exportFile is what export writes and import reads. Import also takes a
// bare JSON array of definitions, or of stored flags as `get` prints them.
type exportFile struct {
	Format     string            `json:"format"`
	ExportedAt time.Time         `json:"exported_at"`
	Flags      []json.RawMessage `json:"flags"`
	Revision   int64             `json:"revision"` // the store's revision at the end of the export, written after the flags
}

func (c *cli) export(ctx context.Context, args []string) error {
	fs := c.flagSet("export")
	k := c.connFlags(fs)
	file := fs.String("file", "", "write to this `file` (default: stdout); replaced atomically")
	if _, err := parseArgs(fs, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	exportedAt := time.Now().UTC().Truncate(time.Second)
	var flags int
	var revision int64
	write := func(w io.Writer) (err error) {
		flags, revision, err = streamExport(ctx, w, cl, exportedAt)
		return err
	}
	if *file == "" || *file == "-" {
		return write(c.stdout)
	}
	if err := writeExportFile(*file, write); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "exported %d flags to %s (revision %d)\n", flags, *file, revision)
	return nil
}

// feedReader is what export reads: pages of the change feed.
type feedReader interface {
	Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error)
}

// exportPage is how many changes export asks for at a time.
const exportPage = wire.MaxPage

// streamExport writes an export of src to w as it reads it: the header,
// then each live flag's definition compact on its own line, as stored
// (never re-indented), then the revision. It reads the change feed from 0
// a page at a time: the feed holds every live flag once, at its latest
// write, so a flag written during the export moves forward and is still
// read, which offset paging of List cannot promise. One rewritten after it
// was read comes round again and is skipped: a flag is exported once, as
// first read. Memory is one page and the ids written, never the set of
// definitions. The revision, written last, is the store's at the last page.
func streamExport(ctx context.Context, w io.Writer, src feedReader, exportedAt time.Time) (flags int, revision int64, err error) {
	bw := bufio.NewWriter(w)
	at, err := json.Marshal(exportedAt)
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(bw, "{\"format\":%q,\"exported_at\":%s,\"flags\":[", exportFormat, at)
	written := map[flagcache.ID]struct{}{}
	var after int64
	var buf []byte
	for {
		feed, err := src.Changes(ctx, after, exportPage)
		if err != nil {
			return flags, revision, err
		}
		revision = feed.Revision
		for _, ch := range feed.Changes {
			after = ch.Revision
			if _, dup := written[ch.ID]; dup || ch.Op != flagcache.OpUpsert || ch.Flag == nil {
				continue
			}
			written[ch.ID] = struct{}{}
			if flags > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
			buf = ch.Flag.Definition.AppendJSON(buf[:0]) // any shape, any nesting (json.Marshal stops at 10,000 levels)
			bw.Write(buf)
			flags++
		}
		if len(feed.Changes) < exportPage {
			break
		}
	}
	fmt.Fprintf(bw, "\n],\"revision\":%d}\n", revision)
	return flags, revision, bw.Flush()
}

// writeExportFile runs write on path. A regular file (or a new one) is
// replaced atomically through a temporary file beside it, keeping an
// existing file's mode; a character device or a pipe (/dev/stdout, a
// FIFO) is written in place; anything else (a directory, a socket, a
// block device) is refused. A symbolic link is followed.
func writeExportFile(path string, write func(io.Writer) error) error {
	mode := os.FileMode(0o644)
	switch st, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case st.Mode()&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case !st.Mode().IsRegular():
		return usageError{fmt.Sprintf("--file %s is not a regular file (%s): refusing to replace it", path, st.Mode().Type())}
	default:
		mode = st.Mode().Perm()
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved // replace the link's target, not the link
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flagcache-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// maxImportConcurrency caps import --concurrency: more writes in flight
// only queue at the daemon (and each is a goroutine here).
const maxImportConcurrency = 64

// importItem is one flag of an import and what became of it.
type importItem struct {
	def      *flagcache.Definition
	id       string // for the report, even when def did not decode
	action   string // create, update or unchanged
	expected int64  // the version an update replaces
	err      error
}

func (c *cli) importFlags(ctx context.Context, args []string) error {
	fs := c.flagSet("import")
	k := c.connFlags(fs)
	file := fs.String("file", "", "read this export `file` (default: stdin)")
	dryRun := fs.Bool("dry-run", false, "check and plan the import, write nothing")
	workers := fs.Int("concurrency", 8, fmt.Sprintf("`writes` in flight at once (1 to %d)", maxImportConcurrency))
	progressMode := fs.String("progress", "auto", "progress bar: auto (when stdout is a terminal), always or never")
	if _, err := parseArgs(fs, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	if *workers < 1 || *workers > maxImportConcurrency {
		return usageError{fmt.Sprintf("--concurrency %d: use 1 to %d", *workers, maxImportConcurrency)}
	}
	var showProgress bool
	switch *progressMode {
	case "auto":
		showProgress = isTerminal(c.stdout)
	case "always":
		showProgress = true
	case "never":
	default:
		return usageError{fmt.Sprintf("--progress %q: want auto, always or never", *progressMode)}
	}
	data, err := c.readInput(*file)
	if err != nil {
		return err
	}
	start := time.Now()
	items, err := decodeImport(data)
	if err != nil {
		return err
	}
	cl, err := c.dial(k)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := plan(ctx, cl, items); err != nil {
		return err
	}
	if *dryRun {
		return c.importReport(items, true, 0)
	}

	var bar *progressBar
	if showProgress {
		bar = startProgress(c.stdout, len(items))
	}
	apply(ctx, cl, items, *workers, bar)
	if bar != nil {
		bar.finish()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.importReport(items, false, time.Since(start))
}

// decodeImport reads an export file or a bare array; a flag that does not
// decode or validate, or repeats an id, fails alone.
func decodeImport(data []byte) ([]*importItem, error) {
	data = bytes.TrimSpace(data)
	var raw []json.RawMessage
	switch {
	case len(data) == 0:
		return nil, usageError{"no input: give --file or pipe an export file"}
	case data[0] == '[':
		if err := flagcache.EachElement(data, func(r []byte) error { raw = append(raw, r); return nil }); err != nil {
			return nil, fmt.Errorf("the input is not a JSON array of flags: %w", err)
		}
	default:
		// Read with the codec's scanner, not encoding/json: an export holds
		// definitions as stored, of any nesting.
		var format string
		err := flagcache.EachMember(data, func(name string, r []byte) error {
			switch name {
			case "format":
				return json.Unmarshal(r, &format)
			case "flags":
				return flagcache.EachElement(r, func(r []byte) error { raw = append(raw, r); return nil })
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("the input is not an export file: %w", err)
		}
		if format != exportFormat {
			return nil, fmt.Errorf("the input's format is %q, want %q", format, exportFormat)
		}
	}
	items := make([]*importItem, len(raw))
	seen := make(map[flagcache.ID]int, len(raw))
	for i, r := range raw {
		it := &importItem{id: fmt.Sprintf("#%d", i+1)}
		items[i] = it
		def, _, err := decodeFlag(r)
		if err != nil {
			it.err = err
			if id := rawID(r); id != "" {
				it.id = id
			}
			continue
		}
		it.def = def
		if def.ID != "" {
			it.id = string(def.ID)
		}
		if err := def.Validate(); err != nil {
			it.err = err
			continue
		}
		if first, dup := seen[def.ID]; dup {
			it.err = fmt.Errorf("the id is repeated (first at flag #%d)", first+1)
			continue
		}
		seen[def.ID] = i
	}
	return items, nil
}

// rawID returns the "id" member of an object that did not decode (say,
// nested past encoding/json's limit), for the report; "" if it has none.
func rawID(r []byte) string {
	var id string
	_ = flagcache.EachMember(r, func(name string, raw []byte) error {
		if name == "id" {
			_ = json.Unmarshal(raw, &id)
		}
		return nil
	})
	return id
}

// plan reads the flags that exist and picks each item's action.
func plan(ctx context.Context, cl *client.Client, items []*importItem) error {
	var ids []flagcache.ID
	for _, it := range items {
		if it.err == nil {
			ids = append(ids, it.def.ID)
		}
	}
	existing, err := cl.GetMany(ctx, ids)
	if err != nil {
		return fmt.Errorf("reading the existing flags: %w", err)
	}
	for _, it := range items {
		if it.err != nil {
			continue
		}
		switch cur := existing[it.def.ID]; {
		case cur == nil:
			it.action = "create"
		case sameDefinition(cur.Definition, it.def):
			it.action = "unchanged"
		default:
			it.action, it.expected = "update", cur.Version
		}
	}
	return nil
}

// sameDefinition compares definitions as the store would keep them:
// without the timestamps it sets, an empty status as inactive.
func sameDefinition(a, b *flagcache.Definition) bool {
	norm := func(d *flagcache.Definition) []byte {
		d = d.Clone()
		d.Metadata.CreatedAt, d.Metadata.UpdatedAt = time.Time{}, time.Time{}
		if d.Status == "" {
			d.Status = flagcache.StatusInactive
		}
		b, _ := json.Marshal(d)
		return b
	}
	return bytes.Equal(norm(a), norm(b))
}

// apply runs the planned writes with workers in flight. An update replaces
// the version the plan read: a flag changed since fails with a conflict
// instead of losing that change (run the import again to overwrite it).
func apply(ctx context.Context, cl *client.Client, items []*importItem, workers int, bar *progressBar) {
	work := make(chan *importItem)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				switch it.action {
				case "create":
					_, it.err = cl.Create(ctx, it.def)
				case "update":
					_, it.err = cl.Update(ctx, it.def, it.expected)
				}
				if bar != nil {
					bar.add(1)
				}
			}
		}()
	}
	for _, it := range items {
		if it.err != nil || it.action == "unchanged" {
			if bar != nil {
				bar.add(1)
			}
			continue
		}
		select {
		case work <- it:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// importReport prints each failed flag to stderr and a summary to stdout;
// it fails when any flag did.
func (c *cli) importReport(items []*importItem, dryRun bool, took time.Duration) error {
	counts := map[string]int{}
	failed := 0
	for _, it := range items {
		if it.err != nil {
			if failed == 0 {
				fmt.Fprintln(c.stderr, "failed flags:")
			}
			failed++
			fmt.Fprintf(c.stderr, "  %s: %s\n", strconv.Quote(it.id), sanitize(it.err.Error()))
			continue
		}
		counts[it.action]++
	}
	if !dryRun {
		rate := ""
		if s := took.Seconds(); s > 0 {
			rate = fmt.Sprintf(" (%.0f flags/s)", float64(len(items))/s)
		}
		fmt.Fprintf(c.stdout, "import of %d flags took %s%s: created %d, updated %d, left %d unchanged, %d failed\n",
			len(items), took.Round(time.Millisecond), rate, counts["create"], counts["update"], counts["unchanged"], failed)
	} else {
		fmt.Fprintf(c.stdout, "dry run of %d flags, nothing written: would create %d, would update %d, would leave %d unchanged; %d failed\n",
			len(items), counts["create"], counts["update"], counts["unchanged"], failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d flags failed", failed, len(items))
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar redraws one line ("\r…") every 100ms while work goes on.
type progressBar struct {
	w     io.Writer
	total int
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	ended sync.WaitGroup
}

func startProgress(w io.Writer, total int) *progressBar {
	p := &progressBar{w: w, total: total, start: time.Now(), stop: make(chan struct{})}
	p.ended.Add(1)
	go func() {
		defer p.ended.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progressBar) add(n int) { p.done.Add(int64(n)) }

// finish draws the final state and ends the line.
func (p *progressBar) finish() {
	close(p.stop)
	p.ended.Wait()
	p.draw()
	fmt.Fprintln(p.w)
}

func (p *progressBar) draw() {
	const width = 30
	done := int(p.done.Load())
	frac := 1.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	filled := int(frac * width)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\rimporting [%s%s] %d/%d %3.0f%% %6.0f flags/s", strings.Repeat("#", filled),
		strings.Repeat("-", width-filled), done, p.total, frac*100, rate)
}
