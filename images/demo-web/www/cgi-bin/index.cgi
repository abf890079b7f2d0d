#!/bin/sh
# The demo frontend's page, /, run by busybox httpd as a CGI script (httpd runs
# /cgi-bin/index.cgi for / when there is no /index.html). Everything on it comes from the
# backend at $API_URL:
#
#   GET /   the latest visits ($API_URL/api/visits, rows from PostgreSQL) and the backend
#           replica that answered ($API_URL/api/info: hostname, revision). Read-only, so health
#           probes can poll it; it answers 200 even when the backend is down, and says so.
#   POST /  records a visit through the backend (POST $API_URL/api/visits), then redirects to
#           / (303 See Other), so reloading the page does not record it twice. (Browsers and
#           curl follow a 303 with a GET; busybox wget POSTs again, so do not POST with it.)
#
# busybox httpd prepends "HTTP/1.1 200 OK" unless the output starts with a status line.
api=${API_URL:-http://api:8080}
me=$(hostname)

# This busybox build's wget crashes on -T (its timeout option), so `timeout` bounds it.
fetch() { timeout 5 wget -q -O - "$@" 2>&1; }
# Escapes text for element content (the page puts none in attributes).
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
headers() { printf '%s\r\n' "$@" ""; }

if [ "${REQUEST_METHOD:-GET}" = POST ]; then
    if out=$(fetch --post-data "note=from+web+$me" "$api/api/visits"); then
        headers "HTTP/1.1 303 See Other" "Location: /" "Content-Type: application/json"
        printf '%s\n' "$out"
    else
        headers "HTTP/1.1 502 Bad Gateway" "Content-Type: text/plain; charset=utf-8"
        printf 'the backend at %s did not record the visit: %s\n' "$api" "$out"
    fi
    exit 0
fi

if info=$(fetch "$api/api/info"); then
    backend="<p>Backend: <code>$(printf '%s' "$info" | esc)</code></p>"
else
    backend="<p><strong>Backend unavailable</strong> at <code>$(printf '%s' "$api" | esc)</code>: $(printf '%s' "$info" | esc)</p>"
fi
if visits=$(fetch "$api/api/visits?limit=20"); then
    count=$(printf '%s\n' "$visits" | grep -c '^{' || true)
    rows=$(printf '%s\n' "$visits" | grep '^{' | sed 's/,$//' | esc | sed 's|.*|<li><code>&</code></li>|')
    listing="<h2>Latest visits (from PostgreSQL): $count</h2>
<ol>
$rows
</ol>"
else
    listing="<h2>Latest visits: unavailable</h2>
<p><code>$(printf '%s' "$visits" | esc)</code></p>"
fi

headers "Content-Type: text/html; charset=utf-8" "Cache-Control: no-store"
cat <<HTML
<!doctype html>
<html>
<head><meta charset="utf-8"><title>Windlass demo</title></head>
<body>
<h1>Windlass demo</h1>
<p>Page served by web <code>$me</code>.</p>
$backend
<form method="post" action="/"><button type="submit">Record a visit</button></form>
$listing
</body>
</html>
HTML
