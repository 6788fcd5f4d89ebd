package flagcache_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flagcache/flagcache"
)

func ExampleNewBoolean() {
	def, err := flagcache.NewBoolean("new-checkout", "New checkout", false)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(def)
	fmt.Println(string(b))
	// Output:
	// {"id":"new-checkout","name":"New checkout","kind":"boolean","default_value":false,"variations":[{"value":true},{"value":false}],"status":"inactive"}
}

func ExampleDefinition_unknownFields() {
	in := `{"id":"x","name":"X","kind":"number","default_value":1,"rollout":{"percent":5},"metadata":{"jira":"FLAG-7"}}`
	var def flagcache.Definition
	if err := json.Unmarshal([]byte(in), &def); err != nil {
		panic(err)
	}
	def.Name = "Renamed"
	out, _ := json.Marshal(&def)
	fmt.Println(string(out))
	// Output:
	// {"id":"x","name":"Renamed","kind":"number","default_value":1,"rollout":{"percent":5},"metadata":{"jira":"FLAG-7"}}
}

func ExampleID_Validate() {
	for _, id := range []flagcache.ID{"checkout.v2", "../etc/passwd", ""} {
		fmt.Println(id.Validate())
	}
	// Output:
	// <nil>
	// invalid id: "../etc/passwd" is not a valid flag id: use [A-Za-z0-9][A-Za-z0-9._:-]*
	// invalid id: must not be empty
}

func ExampleVersionConflictError() {
	var err error = &flagcache.VersionConflictError{ID: "checkout", Expected: 3, Actual: 5}
	var vc *flagcache.VersionConflictError
	fmt.Println(errors.Is(err, flagcache.ErrVersionConflict), errors.As(err, &vc), vc.Actual)
	// Output:
	// true true 5
}
