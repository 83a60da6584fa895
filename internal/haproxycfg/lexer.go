package haproxycfg

import (
	"errors"
	"strings"
)

// Errors of the tokenizer, reported with the line they occur on.
var (
	errUnterminatedQuote  = errors.New("unterminated quote")
	errTrailingBackslash  = errors.New("backslash at the end of the line")
	errUnsupportedEnvExpr = errors.New("environment variables (${...}) are not supported")
)

// splitWords cuts one configuration line into words as HAProxy does
// (configuration manual §2.2 "Quoting and escaping"): words are separated
// by spaces or tabs; a backslash makes the next character literal
// ("Haproxy\ Statistics" is one word); text in double or single quotes is
// one word (a backslash still escapes inside double quotes, not inside
// single quotes); an unquoted, unescaped '#' starts a comment that runs to
// the end of the line. A line with no words gives nil.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				words = append(words, cur.String())
			}
			return words, nil
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errTrailingBackslash
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '"' || c == '\'':
			end, err := quoted(line, i, &cur)
			if err != nil {
				return nil, err
			}
			i = end
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// quoted copies the quoted text that opens at line[open] into cur and
// returns the index of the closing quote.
func quoted(line string, open int, cur *strings.Builder) (int, error) {
	q := line[open]
	for i := open + 1; i < len(line); i++ {
		c := line[i]
		switch {
		case c == q:
			return i, nil
		case q == '"' && c == '\\':
			if i+1 >= len(line) {
				return 0, errTrailingBackslash
			}
			i++
			cur.WriteByte(line[i])
		case q == '"' && c == '$' && i+1 < len(line) && line[i+1] == '{':
			return 0, errUnsupportedEnvExpr
		default:
			cur.WriteByte(c)
		}
	}
	return 0, errUnterminatedQuote
}
