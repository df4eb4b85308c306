package i18n

// frOps is what labd writes for people outside the dashboard and the lab
// shell: the human part of the protocol greetings (the codes, domains and
// keywords before it are never translated), the Telnet service's messages,
// the labd command's reports and tables, and the exercises' hints.
var frOps = map[string]string{
	// Greetings and connection messages (services/).
	"%s labd FTP server ready. USER and PASS travel in clear text here (AUTH TLS for FTPS); HELP lists the commands.": "%s : serveur FTP labd prêt. Ici, USER et PASS circulent en clair (AUTH TLS pour FTPS) ; HELP donne la liste des commandes.",
	"labd POP3 server ready (type CAPA for the capabilities, USER name then PASS password to log in)":                 "serveur POP3 labd prêt (tapez CAPA pour les capacités, puis USER nom et PASS mot de passe pour vous connecter)",
	"Service Ready":     "serveur de courriel prêt",
	"IMAP server ready": "serveur IMAP prêt",
	"%s (labd Telnet). Telnet sends everything in clear, the password too: watch it in Wireshark, then compare with SSH.": "%s (labd Telnet). Telnet envoie tout en clair, le mot de passe aussi : observez-le dans Wireshark, puis comparez avec SSH.",
	"Too many connections from your address; close one and try again.":                                                    "Trop de connexions depuis votre adresse ; fermez-en une et réessayez.",
	"labd is shutting down: please log out now; the session will be closed.":                                              "labd s'arrête : déconnectez-vous maintenant, la session va être fermée.",
	"The lab shell cannot start: %v":                      "Le shell du TP ne peut pas démarrer : %v",
	"No input for %s: disconnecting. Bye.":                "Aucune saisie depuis %s : déconnexion. Au revoir.",
	"Too many failed login attempts (%d): disconnecting.": "Trop d'échecs de connexion (%d) : déconnexion.",
	"Connection closed by labd. Bye.":                     "Connexion fermée par labd. Au revoir.",
}
