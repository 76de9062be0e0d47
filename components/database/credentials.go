package database

import "encoding/json"

// Secret is the JSON document the database secret holds; the application
// reads it at start.
type Secret struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
	Username string `json:"username"`
	Password string `json:"password"`
	// TLS is how clients connect: require (the instance refuses plain
	// connections).
	TLS string `json:"tls"`
}

func credentialsJSON(engine, host string, port int, dbname, username, password string) (string, error) {
	b, err := json.Marshal(Secret{Engine: engine, Host: host, Port: port, DBName: dbname, Username: username, Password: password, TLS: "require"})
	return string(b), err
}
