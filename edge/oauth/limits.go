package oauth

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// The guessing limits (issue 11, item 3). Every map is bounded; a key
// that falls out starts again with a full bucket.
const (
	// Failed passwords for one account from one address: 5, then one
	// more every 2 minutes.
	pairBurst, pairEvery = 5, 2 * time.Minute
	// Failed passwords from one address (IPv6: one /64), any account.
	addrBurst, addrEvery = 30, 20 * time.Second
	// Failed passwords for one account from places it has not signed in
	// from: 10, then one a minute. This slows a guesser who spreads over
	// many addresses without locking the person out: from a browser or
	// address they signed in from in the last 30 days only the two
	// limits above apply.
	accountBurst, accountEvery = 10, time.Minute
	trustedTTL                 = 30 * 24 * time.Hour

	// Device authorizations (RFC 8628 §5.1): creations per address and
	// in total (a creation is a store write kept until it expires), and
	// wrong user codes per address and per browser cookie.
	deviceAddrBurst, deviceAddrEvery   = 10, 30 * time.Second
	deviceTotalBurst, deviceTotalEvery = 60, 500 * time.Millisecond
	guessAddrBurst, guessAddrEvery     = 10, 30 * time.Second
	guessCookieBurst, guessCookieEvery = 5, 30 * time.Second

	maxLimitKeys = 100000
)

// limits holds the sign-in server's rate limits.
type limits struct {
	pair, addr, account *keyedLimiter
	trusted             *recentSet // "email|addr" and "email|#cookie" that signed in
	deviceAddr          *keyedLimiter
	deviceTotal         *rate.Limiter
	guessAddr           *keyedLimiter
	guessCookie         *keyedLimiter
}

func newLimits() *limits {
	return &limits{
		pair:        newKeyedLimiter(pairEvery, pairBurst, maxLimitKeys),
		addr:        newKeyedLimiter(addrEvery, addrBurst, maxLimitKeys),
		account:     newKeyedLimiter(accountEvery, accountBurst, maxLimitKeys),
		trusted:     newRecentSet(trustedTTL, maxLimitKeys),
		deviceAddr:  newKeyedLimiter(deviceAddrEvery, deviceAddrBurst, maxLimitKeys),
		deviceTotal: rate.NewLimiter(rate.Every(deviceTotalEvery), deviceTotalBurst),
		guessAddr:   newKeyedLimiter(guessAddrEvery, guessAddrBurst, maxLimitKeys),
		guessCookie: newKeyedLimiter(guessCookieEvery, guessCookieBurst, maxLimitKeys),
	}
}

// attempt is one password attempt: the account typed (known: it is in
// the user list), the address key and the browser cookie.
type attempt struct {
	email, addr, browser string
	known                bool
}

// untrusted reports whether the account limit applies: a known account
// from a browser and an address it has not signed in from lately.
// Unknown emails have no account bucket (the address limits cover them),
// so typing made-up emails cannot push a real account's bucket out.
func (l *limits) untrusted(a attempt, now time.Time) bool {
	return a.known && !l.trusted.has(a.email+"|"+a.addr, now) &&
		(a.browser == "" || !l.trusted.has(a.email+"|#"+a.browser, now))
}

// loginAllowed reports whether a password attempt may be checked, and
// otherwise what to tell the person.
func (l *limits) loginAllowed(a attempt, now time.Time) (bool, string) {
	if ok, wait := l.pair.check(a.email+"|"+a.addr, now); !ok {
		return false, fmt.Sprintf("Too many failed sign-ins. Try again in %s.", roundWait(wait))
	}
	if ok, wait := l.addr.check(a.addr, now); !ok {
		return false, fmt.Sprintf("Too many failed sign-ins from your network. Try again in %s.", roundWait(wait))
	}
	if l.untrusted(a, now) {
		if ok, wait := l.account.check(a.email, now); !ok {
			return false, fmt.Sprintf("Too many failed sign-ins for this account from new places. Try again in %s, or from a browser or network you signed in from before.", roundWait(wait))
		}
	}
	return true, ""
}

// loginFailed counts a wrong password.
func (l *limits) loginFailed(a attempt, now time.Time) {
	l.pair.take(a.email+"|"+a.addr, now)
	l.addr.take(a.addr, now)
	if l.untrusted(a, now) {
		l.account.take(a.email, now)
	}
}

// loginSucceeded trusts the address and the browser for the account.
func (l *limits) loginSucceeded(a attempt, now time.Time) {
	l.trusted.add(a.email+"|"+a.addr, now)
	if a.browser != "" {
		l.trusted.add(a.email+"|#"+a.browser, now)
	}
}

// deviceCreate takes one device authorization creation for addr.
func (l *limits) deviceCreate(addr string, now time.Time) (bool, time.Duration) {
	if ok, wait := l.deviceAddr.take(addr, now); !ok {
		return false, wait
	}
	if !l.deviceTotal.AllowN(now, 1) {
		return false, deviceTotalEvery
	}
	return true, 0
}

// guessAllowed reports whether a user code may be looked up for addr and
// browser.
func (l *limits) guessAllowed(addr, browser string, now time.Time) (bool, time.Duration) {
	if ok, wait := l.guessAddr.check(addr, now); !ok {
		return false, wait
	}
	return l.guessCookie.check(browser, now)
}

// guessFailed counts a user code that matched no waiting device.
func (l *limits) guessFailed(addr, browser string, now time.Time) {
	l.guessAddr.take(addr, now)
	l.guessCookie.take(browser, now)
}

// roundWait shows a wait as whole seconds (under a minute) or minutes,
// rounded up.
func roundWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}
