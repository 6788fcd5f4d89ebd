// Package ofreptest validates OFREP responses against the OFREP OpenAPI
// document vendored in ofrep/testdata/openapi.yaml (its header names the
// open-feature/protocol commit).
package ofreptest

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Spec is the loaded OFREP document.
type Spec struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	once    sync.Once
	spec    *Spec
	loadErr error
)

// Path is the vendored document's path.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "ofrep", "testdata", "openapi.yaml")
}

// Load returns the OFREP document, loaded and checked once.
func Load(tb testing.TB) *Spec {
	tb.Helper()
	once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(Path())
		if err != nil {
			loadErr = err
			return
		}
		// The document's own bulk example lists FLAG_NOT_FOUND, which its
		// evaluationFailure enum lacks: check the document, not its examples.
		if loadErr = doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); loadErr != nil {
			return
		}
		if loadErr = disambiguate(doc); loadErr != nil {
			return
		}
		doc.Servers = nil // match any host
		router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
		spec, loadErr = &Spec{doc: doc, router: router}, err
	})
	if loadErr != nil {
		tb.Fatalf("OFREP openapi.yaml: %v", loadErr)
	}
	return spec
}

// Validate checks a response to req against its OFREP operation. A status
// the operation declares must match its schema; the statuses OFREP leaves
// to HTTP (405, 413, 415, 503) are accepted with any JSON body, anything
// else is an error. req must be an OFREP route.
func (s *Spec) Validate(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		tb.Errorf("%s %s is no OFREP operation: %v", req.Method, req.URL.Path, err)
		return
	}
	declared := route.Operation.Responses.Status(status) != nil
	switch {
	case declared:
	case status == http.StatusMethodNotAllowed, status == http.StatusRequestEntityTooLarge,
		status == http.StatusUnsupportedMediaType, status == http.StatusServiceUnavailable:
		return
	default:
		tb.Errorf("%s %s: status %d is not one OFREP declares", req.Method, req.URL.Path, status)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		tb.Errorf("%s %s: %d response does not match OFREP's openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, status, err, body)
	}
}

// disambiguate rewrites, in memory, the one schema of the document that no
// response can satisfy: evaluationSuccess requires its value to match
// exactly one of booleanFlag, stringFlag, integerFlag, floatFlag,
// objectFlag and codeDefaultFlag, but codeDefaultFlag (no properties)
// matches every object and every integer is also a float, so every
// success — the document's own examples too — matches two. What it means,
// and what is checked instead: a value, when present, is one of the five
// typed shapes; a success without a value is a codeDefaultFlag.
func disambiguate(doc *openapi3.T) error {
	success := doc.Components.Schemas["evaluationSuccess"]
	if success == nil || len(success.Value.AllOf) != 2 || len(success.Value.AllOf[1].Value.OneOf) != 6 {
		return errors.New("evaluationSuccess no longer has the shape disambiguate expects: review it")
	}
	shapes := success.Value.AllOf[1].Value
	noValue := openapi3.NewSchema()
	noValue.Not = openapi3.NewSchemaRef("", &openapi3.Schema{Required: []string{"value"}})
	shapes.AnyOf = append(shapes.OneOf[:5:5], openapi3.NewSchemaRef("", noValue))
	shapes.OneOf = nil
	return nil
}
