package ofreptest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/flagcache/flagcache"
)

// Env is the environment the fixtures are evaluated in.
const Env = "production"

// Fixtures are one flag per row of the OFREP mapping (docs/ofrep.md), by
// id. "deleted" is created and deleted by Seed; "missing" never exists.
var Fixtures = map[string]string{
	"on-bool": `{"id":"on-bool","name":"On","kind":"boolean","default_value":true,"status":"active",
		"variations":[{"value":true,"key":"on"},{"value":false,"key":"off"}],
		"environments":{"production":{"enabled":true},"staging":{"enabled":false}},
		"metadata":{"owner":"team-a"}}`,
	"off-bool": `{"id":"off-bool","name":"Off","kind":"boolean","default_value":true,"status":"active",
		"environments":{"production":{"enabled":false}}}`,
	"archived": `{"id":"archived","name":"Archived","kind":"boolean","default_value":true,"status":"archived",
		"environments":{"production":{"enabled":true}}}`,
	"staging-only": `{"id":"staging-only","name":"Staging only","kind":"boolean","default_value":true,
		"environments":{"staging":{"enabled":true}}}`,
	"deleted": `{"id":"deleted","name":"Deleted","kind":"boolean","default_value":true,
		"environments":{"production":{"enabled":true}}}`,
	"rules": `{"id":"rules","name":"Rules","kind":"boolean","default_value":false,
		"environments":{"production":{"enabled":true,"rules":[{"if":"country == CA","serve":true}]}}}`,
	"int-number": `{"id":"int-number","name":"Integral number","kind":"number","default_value":3.0,
		"environments":{"production":{"enabled":true}}}`,
	"float-number": `{"id":"float-number","name":"Float number","kind":"number","default_value":2.5,
		"environments":{"production":{"enabled":true}}}`,
	"obj-json": `{"id":"obj-json","name":"Object","kind":"json","default_value":{"color":"blue","size":2},
		"variations":[{"value":{"size":2,"color":"blue"},"key":"blue"}],
		"environments":{"production":{"enabled":true}}}`,
	"list-json": `{"id":"list-json","name":"List","kind":"json","default_value":[1,2],
		"environments":{"production":{"enabled":true}}}`,
	"string-flag": `{"id":"string-flag","name":"String","kind":"string","default_value":"blue",
		"variations":[{"value":"blue"},{"value":"red","key":"red"}],
		"environments":{"production":{"enabled":true}}}`,
}

// Seed creates the fixtures in store and deletes "deleted".
func Seed(ctx context.Context, store flagcache.Store) error {
	for id, body := range Fixtures {
		var def flagcache.Definition
		if err := json.Unmarshal([]byte(body), &def); err != nil {
			return fmt.Errorf("fixture %s: %w", id, err)
		}
		if _, err := store.Create(ctx, &def); err != nil {
			return fmt.Errorf("creating %s: %w", id, err)
		}
	}
	_, err := store.Delete(ctx, "deleted", 0)
	return err
}
