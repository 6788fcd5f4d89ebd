package main

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestDocsNameEveryCommand: the package doc (go doc ./cmd/flagcache) and
// the README's layout row of cmd/flagcache/ name every command of the
// table, so a new command is not left out of either.
func TestDocsNameEveryCommand(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("main.go's package doc: %v", err)
	}
	doc := f.Doc.Text()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `cmd/flagcache/` |") {
			row = line
		}
	}
	if row == "" {
		t.Fatal("the README's layout has no cmd/flagcache/ row")
	}
	for _, cmd := range append(commands, command{name: "help"}) {
		if !strings.Contains(doc, "flagcache "+cmd.name+" ") {
			t.Errorf("the package doc does not name %q", cmd.name)
		}
		if !strings.Contains(row, "`"+cmd.name+"`") {
			t.Errorf("the README's cmd/flagcache/ row does not name %q", cmd.name)
		}
	}
}
