package tiered_test

import (
	"testing"

	"github.com/flagcache/flagcache/internal/testenv"
)

func TestMain(m *testing.M) { testenv.VerifyNoLeaks(m) }
