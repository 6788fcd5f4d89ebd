// Package ofprovider is an OpenFeature provider (github.com/open-feature/go-sdk)
// over a flagcache client.
//
// Build the client with a local cache, hand it to New, and register the
// provider:
//
//	c, _ := client.New("http://127.0.0.1:8080", client.WithToken(token), client.WithLocalCache(10000))
//	p, _ := ofprovider.New(c, ofprovider.Options{Environment: "production"})
//	openfeature.SetProviderAndWait(p)
//	on, _ := openfeature.NewDefaultClient().BooleanValue(ctx, "new-checkout", false, openfeature.EvaluationContext{})
//
// Evaluations read the client's local cache (kept coherent by the daemon's
// watch stream), so a cached flag is answered from memory; the typed
// answer of a cached copy is computed once. The environment is the
// evaluation context's "environment" attribute, else Options.Environment.
// The mapping of flag states to answers is the OFREP one (package ofrep,
// docs/ofrep.md): a missing, deleted or archived flag, or one without the
// environment, is FLAG_NOT_FOUND; a disabled environment gives the code
// default with reason DISABLED; an enabled one gives default_value with
// reason STATIC and the matching variation's key as the variant; asking
// for another type than the flag's kind is TYPE_MISMATCH (a json flag whose
// value is not an object too, and IntEvaluation of a number that is not
// integral); an environment with rules or rollouts is GENERAL. A value
// read while the daemon or its source could not be reached has reason
// STALE.
//
// Events: Init returns (the SDK then reports READY) once the client's watch
// stream is open. Each batch of change events gives one
// PROVIDER_CONFIGURATION_CHANGED naming the changed flags, emitted after
// the local cache has applied them. When the watch stream drops the
// provider emits PROVIDER_STALE, PROVIDER_ERROR when the daemon refuses
// the client's token, and PROVIDER_READY when the stream is back.
// Shutdown stops the provider; it does not close the client.
package ofprovider
