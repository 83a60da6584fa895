package balance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrUnknownAlgorithm is returned by ByName for a name it does not know
	// or an HAProxy algorithm that needs HTTP data.
	ErrUnknownAlgorithm = errors.New("balance: unknown algorithm")
	// ErrAlgorithmArgument is returned by ByName for an argument the
	// algorithm does not take or cannot use.
	ErrAlgorithmArgument = errors.New("balance: invalid algorithm argument")
)

// knownAlgorithms is the list shown when a name is unknown.
const knownAlgorithms = "roundrobin, static-rr, leastconn, first, source, random, random(<draws>), hash"

// clientIDSample is the HAProxy sample expression of the MQTT client ID.
const clientIDSample = "req.payload(0,0),mqtt_field_value(connect,client_identifier)"

// ByName returns the Balancer for an algorithm named as in HAProxy's
// "balance" directive, with the directive's further words as args:
//
//	roundrobin       RoundRobin
//	static-rr        StaticRR
//	leastconn        LeastConn
//	first            First
//	source           SourceHash
//	random           Random with 2 draws, HAProxy's default
//	random(<draws>)  Random with that many draws
//	hash [<expr>]    ClientIDHash; <expr> may be omitted or be the client
//	                 ID sample req.payload(0,0),mqtt_field_value(connect,
//	                 client_identifier); "src" hashes the source address
//
// The hashing algorithms are always consistent, as with HAProxy's
// "hash-type consistent", and use the default LoadFactor; a caller that
// reads "hash-balance-factor" sets it on the returned value. HAProxy's
// HTTP algorithms (uri, url_param, hdr, rdp-cookie) and unknown names give
// an error wrapping [ErrUnknownAlgorithm]; arguments an algorithm cannot
// use give one wrapping [ErrAlgorithmArgument].
func ByName(name string, args ...string) (Balancer, error) {
	base, paren, hasParen := strings.Cut(name, "(")
	if hasParen {
		var ok bool
		if paren, ok = strings.CutSuffix(paren, ")"); !ok {
			return nil, fmt.Errorf("%w %q: unbalanced parenthesis", ErrAlgorithmArgument, name)
		}
	}
	noArgs := func(b Balancer) (Balancer, error) {
		if hasParen || len(args) > 0 {
			return nil, fmt.Errorf("%w: %q takes no argument", ErrAlgorithmArgument, base)
		}
		return b, nil
	}
	switch base {
	case "roundrobin":
		return noArgs(RoundRobin{})
	case "static-rr":
		return noArgs(StaticRR{})
	case "leastconn":
		return noArgs(LeastConn{})
	case "first":
		return noArgs(First{})
	case "source":
		return noArgs(SourceHash{})
	case "random":
		return random(name, paren, hasParen, args)
	case "hash":
		return hashOn(args)
	case "uri", "url_param", "hdr", "rdp-cookie":
		return nil, fmt.Errorf("%w %q: it balances on HTTP data, which MQTT connections do not carry", ErrUnknownAlgorithm, name)
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownAlgorithm, name, knownAlgorithms)
}

func random(name, draws string, hasDraws bool, args []string) (Balancer, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%w: random takes its draws in parentheses, not %q", ErrAlgorithmArgument, args)
	}
	if !hasDraws {
		return Random{Draws: 2}, nil
	}
	n, err := strconv.Atoi(draws)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%w %q: draws must be a positive integer", ErrAlgorithmArgument, name)
	}
	return Random{Draws: n}, nil
}

func hashOn(args []string) (Balancer, error) {
	expr := strings.Join(args, " ")
	switch expr {
	case "", clientIDSample:
		return ClientIDHash{}, nil
	case "src":
		return SourceHash{}, nil
	}
	return nil, fmt.Errorf("%w: hash on %q; only the client ID (%s) and src are supported", ErrAlgorithmArgument, expr, clientIDSample)
}
