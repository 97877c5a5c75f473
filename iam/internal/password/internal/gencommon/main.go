// Command gencommon writes the common-password list embedded by package
// password.
//
// The list is built from patterns that people reliably fall back on when
// forced to pick a password: a handful of weak base words and first names,
// simple decorations (digits, years, "!"), leetspeak, digit runs and keyboard
// walks. It is generated rather than copied from a breach corpus so its
// provenance is clear and it can be regenerated and reviewed as code. Only
// entries of at least 8 characters are written, since shorter ones are
// rejected by the length rule anyway.
//
// Usage (from the password package directory, via go generate):
//
//	go run ./internal/gencommon -o common_passwords.txt
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// minLen mirrors password.MinLength; entries shorter than it are pointless.
const minLen = 8

// Base words that dominate weak-password behaviour: the word "password"
// itself, default/admin words, sports, pets, pop culture, affection, seasons.
var baseWords = []string{
	"password", "passwort", "pass", "passw0rd", "letmein", "welcome", "admin",
	"administrator", "login", "root", "guest", "test", "testing", "default",
	"changeme", "secret", "private", "access", "master", "super", "user",
	"qwerty", "abc", "abcd", "abcdef", "iloveyou", "loveyou", "love", "lovely",
	"monkey", "dragon", "shadow", "sunshine", "princess", "football",
	"baseball", "soccer", "hockey", "basketball", "superman", "batman",
	"spiderman", "starwars", "pokemon", "trustno1", "whatever", "freedom",
	"hello", "helloworld", "ninja", "mustang", "flower", "cookie", "cheese",
	"computer", "internet", "killer", "pepper", "ginger", "buster", "tigger",
	"thunder", "matrix", "silver", "golden", "orange", "purple", "yellow",
	"banana", "chocolate", "butterfly", "diamond", "angel", "summer",
	"winter", "spring", "autumn", "jesus", "blessed", "money", "family",
	"friends", "forever", "liverpool", "chelsea", "arsenal", "barcelona",
	"yankees", "lakers", "cowboys", "eagles", "company", "office", "google",
	"facebook", "microsoft", "windows", "server", "database", "photon",
	"photoncloud", "cloud", "security", "qazwsx", "zaq12wsx", "asdfgh",
	"zxcvbn", "michael", "jennifer", "jessica", "ashley", "daniel", "matthew",
	"andrew", "joshua", "david", "james", "john", "robert", "thomas",
	"charlie", "jordan", "hunter", "ranger", "harley", "anthony", "william",
	"nicole", "amanda", "michelle", "sarah", "samantha", "elizabeth",
	"jasmine", "hannah", "maria", "anna", "alex", "chris", "george", "peter",
	"martin", "maggie", "bailey", "buddy", "lucky", "max", "bella", "daisy",
	"molly", "rocky", "smokey", "snoopy",
}

// Months and weekdays are popular base words for "rotated" passwords.
var calendarWords = []string{
	"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december", "monday", "tuesday",
	"wednesday", "thursday", "friday", "saturday", "sunday",
}

// rotationWords get the heavier treatment (years, leetspeak): they are the
// words people cycle through when a password must change or be "complex".
var rotationWords = []string{
	"password", "passw0rd", "welcome", "letmein", "admin", "qwerty",
	"iloveyou", "monkey", "dragon", "football", "baseball", "sunshine",
	"princess", "master", "shadow", "superman", "changeme", "secret",
	"summer", "winter", "spring", "autumn", "fall", "january", "february",
	"march", "april", "june", "july", "august", "september", "october",
	"november", "december", "hello", "login", "company", "photon", "cloud",
}

// Decorations appended to satisfy "must contain a digit/symbol" rules.
var suffixes = []string{
	"", "1", "2", "12", "123", "1234", "12345", "123456", "!", "1!", "12!",
	"123!", "@123", "#1", "01", "11", "69", "99", "007", "111", "321",
}

// Keyboard rows and common diagonal/column walks on a US layout.
var keyboardWalks = []string{
	"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc4rfv",
	"qazwsxedcrfv", "zaq12wsxcde3", "1q2w3e4r5t6y7u8i9o0p", "q1w2e3r4t5y6",
	"qweasdzxc", "qwerasdfzxcv", "1qazxsw2", "zaq1xsw2cde3", "!qaz@wsx#edc",
	"qwer1234", "asdf1234", "zxcv1234", "1234qwer", "qwerasdf", "asdfqwer",
	"qwe123asd", "1qaz!qaz", "1qaz@wsx", "poiuytrewq", "lkjhgfdsa",
	"mnbvcxz", "0987654321", "qwertz", "azerty", "qwertzuiop", "azertyuiop",
}

// leetMaps are the usual character substitutions.
var leetMaps = []map[rune]rune{
	{'a': '@', 'o': '0', 'e': '3', 'i': '1', 's': '$'},
	{'a': '4', 'o': '0', 'e': '3', 'i': '1', 's': '5'},
	{'a': '@', 'o': '0', 's': '$'},
	{'a': '@', 'o': '0'},
	{'a': '4', 'o': '0'},
	{'o': '0'},
	{'a': '@'},
}

func generate() []string {
	set := map[string]struct{}{}
	add := func(s string) {
		s = strings.ToLower(s)
		// A leading '#' would read as a comment line in the list file.
		if utf8.RuneCountInString(s) >= minLen && !strings.HasPrefix(s, "#") {
			set[s] = struct{}{}
		}
	}

	// Every base word with the usual decorations, plus a doubled form.
	words := append(slices.Clone(baseWords), calendarWords...)
	for _, w := range words {
		add(w + w)
		for _, s := range suffixes {
			add(w + s)
		}
		for _, p := range []string{"1", "123", "my", "the"} {
			add(p + w)
		}
	}

	// Leetspeak only for the words people actually "harden" that way, with
	// the few decorations that go with it.
	for _, w := range rotationWords {
		for _, m := range leetMaps {
			for _, s := range []string{"", "1", "12", "123", "!", "1!"} {
				add(leet(w, m) + s)
			}
		}
	}

	// Rotation words with years: the classic forced-rotation pattern
	// ("Summer2024!", "Welcome@2023", "password99").
	for _, w := range rotationWords {
		for y := 1980; y <= 2035; y++ {
			add(fmt.Sprintf("%s%d", w, y))
			if y >= 2015 {
				add(fmt.Sprintf("%s%d!", w, y))
				add(fmt.Sprintf("%s@%d", w, y))
			}
		}
		for y := 0; y <= 99; y++ {
			if y <= 35 || y >= 80 {
				add(fmt.Sprintf("%s%02d", w, y))
			}
		}
	}

	// Digit runs: repeated digits, ascending and descending sequences,
	// repeated short groups and date-like strings.
	for d := '0'; d <= '9'; d++ {
		for n := minLen; n <= 12; n++ {
			add(strings.Repeat(string(d), n))
		}
	}
	asc := strings.Repeat("0123456789", 3)
	for start := 0; start < 10; start++ {
		for n := minLen; n <= 10; n++ {
			run := asc[start : start+n]
			add(run)
			add(reverse(run))
		}
	}
	for _, g := range []string{"12", "123", "1234", "12345", "21", "321", "4321", "112", "1122", "69", "007", "2580", "159", "147", "369", "789", "456", "654"} {
		for r := 2; r*len(g) <= 12; r++ {
			add(strings.Repeat(g, r))
		}
	}
	for y := 1950; y <= 2035; y++ {
		add(fmt.Sprintf("0101%d", y))
		add(fmt.Sprintf("1234%d", y))
		add(fmt.Sprintf("%d%d", y, y))
	}
	for _, s := range []string{"147258369", "159753456", "789456123", "123654789", "741852963", "963852741", "123321123", "12344321", "1234554321", "11223344", "1122334455", "1029384756"} {
		add(s)
	}

	// Keyboard walks: every prefix and suffix of each walk that is long
	// enough, both directions, and with the usual digit decorations.
	for _, w := range keyboardWalks {
		for _, v := range []string{w, reverse(w)} {
			for n := minLen; n <= len(v); n++ {
				add(v[:n])
				add(v[len(v)-n:])
			}
			for _, s := range []string{"1", "12", "123", "!"} {
				for n := 6; n <= len(v); n++ {
					add(v[:n] + s)
				}
			}
		}
	}

	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// leet applies a character substitution map.
func leet(s string, m map[rune]rune) string {
	return strings.Map(func(r rune) rune {
		if v, ok := m[r]; ok {
			return v
		}
		return r
	}, s)
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// render produces the file contents, including a provenance header.
func render(entries []string) string {
	var b strings.Builder
	b.WriteString("# Common passwords rejected by package password. GENERATED by\n")
	b.WriteString("# internal/gencommon from weak-password patterns; do not edit.\n")
	for _, e := range entries {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

func main() {
	out := flag.String("o", "common_passwords.txt", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, []byte(render(generate())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gencommon:", err)
		os.Exit(1)
	}
}
