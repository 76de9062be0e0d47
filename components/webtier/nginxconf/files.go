package nginxconf

import (
	"embed"
	"html/template"
	"io/fs"
	"strings"
)

//go:embed www
var www embed.FS

// Files returns the static content and error pages to install under
// WebRoot, keyed by path relative to WebRoot: "static/style.css" (the
// application's stylesheet, served as /static/style.css),
// "static/robots.txt" (also served as /robots.txt) and "errors/50x.html"
// (shown when no application server answers). siteName, e.g.
// "www.foobar.com", is written into the HTML pages; "" means "This site".
func Files(siteName string) map[string]string {
	if siteName == "" {
		siteName = "This site"
	}
	files := map[string]string{}
	err := fs.WalkDir(www, "www", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := www.ReadFile(name)
		if err != nil {
			return err
		}
		text := string(data)
		if strings.HasSuffix(name, ".html") {
			t, err := template.New(name).Parse(text)
			if err != nil {
				return err
			}
			var b strings.Builder
			if err := t.Execute(&b, struct{ SiteName string }{siteName}); err != nil {
				return err
			}
			text = b.String()
		}
		files[strings.TrimPrefix(name, "www/")] = text
		return nil
	})
	if err != nil {
		panic("nginxconf: embedded www/ is broken: " + err.Error()) // a build defect, caught by the tests
	}
	return files
}
