package flagcache

import (
	"cmp"
	"slices"
)

// Query selects flags for List and Count. Zero values mean "no filter".
type Query struct {
	// Status keeps flags with exactly this status. An explicit
	// StatusArchived includes archived flags whatever IncludeArchived says.
	Status Status
	// Environment keeps flags that define this environment.
	Environment string
	// Tags keeps flags carrying any of these tags.
	Tags []string
	// Owner keeps flags whose metadata.owner is exactly this.
	Owner string
	// IncludeArchived keeps archived flags, which are left out by default.
	IncludeArchived bool
	// Offset skips this many flags of the ordered result.
	Offset int
	// Limit caps the result; 0 means no limit.
	Limit int
}

// Validate returns an *InvalidError naming the first bad field of q.
func (q Query) Validate() error {
	if q.Status != "" && !q.Status.Valid() {
		return Invalid("status", "%q is not one of inactive, active, deprecated, archived", truncate(string(q.Status), 32))
	}
	if q.Environment != "" && !ValidEnvironment(q.Environment) {
		return Invalid("environment", "%q is not a valid environment name", truncate(q.Environment, 80))
	}
	for _, t := range q.Tags {
		if t == "" {
			return Invalid("tag", "must not be empty")
		}
		if err := checkText("tag", t); err != nil {
			return err
		}
	}
	if err := checkText("owner", q.Owner); err != nil {
		return err
	}
	if q.Offset < 0 {
		return Invalid("offset", "must not be negative")
	}
	if q.Limit < 0 {
		return Invalid("limit", "must not be negative")
	}
	return nil
}

// Match reports whether d passes the filters of q (not Offset and Limit).
// Stores that filter in memory use it; stores that filter in a query
// language implement the same rules.
func (q Query) Match(d *Definition) bool {
	if q.Status != "" {
		if d.Status != q.Status {
			return false
		}
	} else if !q.IncludeArchived && d.Status == StatusArchived {
		return false
	}
	if q.Environment != "" {
		if _, ok := d.Environments[q.Environment]; !ok {
			return false
		}
	}
	if len(q.Tags) > 0 && !slices.ContainsFunc(q.Tags, d.HasTag) {
		return false
	}
	if q.Owner != "" && d.Metadata.Owner != q.Owner {
		return false
	}
	return true
}

// CompareStored orders flags the way List returns them: by name, then id,
// both bytewise.
func CompareStored(a, b *Stored) int {
	if c := cmp.Compare(a.Definition.Name, b.Definition.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Definition.ID, b.Definition.ID)
}

// Page applies q's Offset and Limit to an ordered result.
func (q Query) Page(flags []*Stored) []*Stored {
	if q.Offset >= len(flags) {
		return []*Stored{}
	}
	flags = flags[q.Offset:]
	if q.Limit > 0 && q.Limit < len(flags) {
		flags = flags[:q.Limit]
	}
	return flags
}
