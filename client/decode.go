package client

import (
	"encoding/json"
	"strconv"

	"github.com/flagcache/flagcache"
)

// The bodies that hold flags are decoded with flagcache's scanner, not
// encoding/json, which stops at 10,000 levels of nesting: a definition
// served as stored (whatever another writer stored) must reach the caller.

func (r *listResponse) UnmarshalJSON(b []byte) error {
	*r = listResponse{}
	return flagcache.EachMember(b, func(name string, raw []byte) (err error) {
		switch name {
		case "flags":
			r.Flags, err = decodeStoredList(raw)
		case "total":
			r.Total, err = strconv.Atoi(string(raw))
		}
		return err
	})
}

func (r *flagsResponse) UnmarshalJSON(b []byte) error {
	*r = flagsResponse{}
	return flagcache.EachMember(b, func(name string, raw []byte) (err error) {
		switch name {
		case "flags":
			r.Flags, err = decodeStoredList(raw)
		case "next":
			err = json.Unmarshal(raw, &r.Next) // a time and an id
		}
		return err
	})
}

func (r *batchGetResponse) UnmarshalJSON(b []byte) error {
	*r = batchGetResponse{Flags: map[flagcache.ID]*flagcache.Stored{}}
	return flagcache.EachMember(b, func(name string, raw []byte) error {
		switch name {
		case "flags":
			return flagcache.EachMember(raw, func(id string, raw []byte) error {
				s := new(flagcache.Stored)
				if err := s.UnmarshalJSON(raw); err != nil {
					return err
				}
				r.Flags[flagcache.ID(id)] = s
				return nil
			})
		case "missing":
			return json.Unmarshal(raw, &r.Missing)
		}
		return nil
	})
}

func decodeStoredList(raw []byte) ([]*flagcache.Stored, error) {
	out := []*flagcache.Stored{}
	err := flagcache.EachElement(raw, func(raw []byte) error {
		s := new(flagcache.Stored)
		if err := s.UnmarshalJSON(raw); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}
