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

	// The labd command (cmd/labd): tables keep one header per column,
	// separated by tabs; the ss states (ESTAB, CLOSED, UNCONN) stay.
	"ID\tPROTO\tSTATE\tLOCAL\tPEER\tUSER\tSTART\tDURATION\tIN\tOUT": "ID\tPROTO\tÉTAT\tLOCAL\tDISTANT\tUTILISATEUR\tDÉBUT\tDURÉE\tREÇUS\tENVOYÉS",
	"session %s: %s over %s, %s -> %s":                              "session %s : %s sur %s, %s -> %s",
	", user %s":                                                     ", utilisateur %s",
	", %d bytes in, %d out":                                         ", %d octets reçus, %d envoyés",
	", %d bytes in, %d out (secrets masked; --unmask shows them)":   ", %d octets reçus, %d envoyés (secrets masqués ; --unmask les affiche)",
	"(transcript truncated at sessions.transcript_bytes)":           "(transcription tronquée à sessions.transcript_bytes)",
	"server %s (%s)":                                                "serveur %s (%s)",

	"SERVICE\tKIND\tPARAMS\tWHAT IT DOES": "SERVICE\tTYPE\tPARAMÈTRES\tEFFET",
	"ID\tFAULT\tFOR\tUNTIL\tLEFT":         "ID\tPANNE\tPOUR\tJUSQU'À\tRESTE",
	"fault set SERVICE KIND [KEY=VALUE...] [--user U | --addr A] [--for 10m] (labd fault kinds lists them)": "fault set SERVICE KIND [KEY=VALUE...] [--user U | --addr A] [--for 10m] (labd fault kinds en donne la liste)",
	"fault parameter %q: write KEY=VALUE, such as percent=20":                                               "paramètre de panne %q : écrivez CLÉ=VALEUR, par exemple percent=20",
	"unknown fault subcommand %q": "sous-commande de fault inconnue : %q",
	"user %s":                     "l'utilisateur %s",
	"address %s":                  "l'adresse %s",

	"SERVICE\tPROTO\tADDRESS\tSTATE": "SERVICE\tPROTO\tADRESSE\tÉTAT",
	"listening":                      "en écoute",
	"stopped":                        "arrêté",
	"free":                           "libre",
	"PROBLEM":                        "PROBLÈME",

	"hostkeys takes no arguments besides --config: %s":                        "hostkeys ne prend pas d'argument en dehors de --config : %s",
	"serve takes no arguments besides --config: %s":                           "serve ne prend pas d'argument en dehors de --config : %s",
	"(host keys generated now in %s: labd will use them)":                     "(clés d'hôte générées à l'instant dans %s : labd les utilisera)",
	"SSH host keys of this labd (what PuTTY and ssh ask students to accept):": "Clés d'hôte SSH de ce labd (celles que PuTTY et ssh demandent aux étudiants d'accepter) :",
	"MD5 (older PuTTY): %s":                                                   "MD5 (anciennes versions de PuTTY) : %s",
	"file: %s":                                                                "fichier : %s",
	"plink in batch mode (accepts either key):":                               "plink en mode batch (accepte l'une ou l'autre clé) :",
	"known_hosts lines (ssh -o UserKnownHostsFile=FILE):":                     "lignes known_hosts (ssh -o UserKnownHostsFile=FILE) :",

	"store needs a subcommand: copy --from sqlite:PATH --to postgres:DSN":                          "store attend une sous-commande : copy --from sqlite:PATH --to postgres:DSN",
	"store copy takes --from sqlite:PATH (or postgres:DSN) and --to postgres:DSN (or sqlite:PATH)": "store copy prend --from sqlite:PATH (ou postgres:DSN) et --to postgres:DSN (ou sqlite:PATH)",
	"copied %d users, %d SSH keys, %d mailboxes, %d messages (UIDs and UIDVALIDITY kept)":          "copiés : %d utilisateurs, %d clés SSH, %d boîtes aux lettres, %d messages (UID et UIDVALIDITY conservés)",
	"SQLite database %s":                  "base SQLite %s",
	"%q: say sqlite:PATH or postgres:DSN": "%q : indiquez sqlite:PATH ou postgres:DSN",

	"unknown user subcommand %q":         "sous-commande de user inconnue : %q",
	"user %s: wrong number of arguments": "user %s : mauvais nombre d'arguments",
	"user %s takes %s":                   "user %s prend %s",
	"USER\tADMIN\tKEYS\tCREATED":         "UTILISATEUR\tADMIN\tCLÉS\tCRÉÉ LE",
	"yes":                                "oui",
	"user key takes add NAME FILE.pub":   "user key prend add NAME FILE.pub",
	"read public key":                    "lecture de la clé publique",
	"open roster":                        "ouverture de la liste d'étudiants",
	"nothing imported:":                  "rien n'a été importé :",
	"USER\tPASSWORD":                     "UTILISATEUR\tMOT DE PASSE",
	"%s: line %s: %v (users above this line were created)": "%s : ligne %s : %v (les utilisateurs des lignes précédentes ont été créés)",

	"backup: no labd database at %s (is --config right?)": "backup : pas de base labd dans %s (--config est-il le bon ?)",
	"class reset: no labd database at %s":                 "class reset : pas de base labd dans %s",
	"class reset: the archive failed, nothing was reset":  "class reset : l'archive a échoué, rien n'a été remis à zéro",
	"create %s": "création de %s",
	"write %s":  "écriture de %s",

	// labd progress.
	"session %s":  "session %s",
	"missing: %s": "manque : %s",
	"from %s":     "depuis %s",
	"started":     "commencé",

	// What is missing to an exercise (internal/exercises), when the
	// exercise's own hint_fr does not say it.
	"the session did not use TLS":                                        "la session n'a pas utilisé TLS",
	"the session used TLS, the exercise wants it in clear":               "la session a utilisé TLS, l'exercice la demande en clair",
	"the exercise is without login":                                      "l'exercice se fait sans authentification",
	"no successful login in the session":                                 "aucune authentification réussie dans la session",
	"the login used %s, the exercise wants %s":                           "l'authentification a utilisé %s, l'exercice demande %s",
	"the login did not use a public key":                                 "l'authentification n'a pas utilisé de clé publique",
	"%s is %q, the exercise wants %s":                                    "%s vaut %q, l'exercice demande %s",
	"labd did not note %s":                                               "labd n'a pas noté %s",
	"no line %s was sent":                                                "aucune ligne %s n'a été envoyée",
	"the server did not answer %s after %s":                              "le serveur n'a pas répondu %s après %s",
	"the lines were sent by a program; type them by hand (nc or telnet)": "les lignes ont été envoyées par un programme ; tapez-les à la main (nc ou telnet)",
	"the lines were typed by hand; the exercise wants a client program":  "les lignes ont été tapées à la main ; l'exercice demande un programme client",
	"the other part is missing: a %s session%s":                          "il manque l'autre partie : une session %s%s",
	"matching":    "correspondante",
	" over %s":    " sur %s",
	" with %s %s": " avec %s %s",
	" with %s":    " avec %s",

	// The HTTP service's plain-text pages and error bodies (the status
	// line and the headers stay).
	"too many connections from your address":                                 "trop de connexions depuis votre adresse",
	"500 internal server error":                                              "500 erreur interne du serveur",
	"400 bad request: /status/NNN takes a code between 200 and 599":          "400 requête invalide : /status/NNN prend un code entre 200 et 599",
	"401 unauthorized: log in with a lab user name and password":             "401 non autorisé : connectez-vous avec un nom d'utilisateur et un mot de passe du TP",
	"404 not found: this host uses a configured certificate, not the lab CA": "404 introuvable : ce serveur utilise un certificat configuré, pas l'autorité de certification du TP",
	"403 forbidden": "403 accès interdit",
	"Index of %s":   "Contenu de %s",
	"Hello %s: the server accepted your Basic credentials.\nThey crossed the network as %q, base64 and not encrypted.": "Bonjour %s : le serveur a accepté vos identifiants Basic.\nIls ont traversé le réseau sous la forme %q, en base64 et non chiffrés.",
	"a fault the teacher switched on for this lesson":                                                                  "une panne que l'enseignant a activée pour cette séance",
	"labd echo: this is the request exactly as the server received it.":                                                "labd echo : voici la requête exactement telle que le serveur l'a reçue.",
	"Client address: %s": "Adresse du client :  %s",
	"Server address: %s": "Adresse du serveur : %s",
	"Protocol:       %s": "Protocole :          %s",
	" over TLS (%s)":     " sur TLS (%s)",
	"Server time:    %s": "Heure du serveur :   %s",
	"--- request head, byte for byte (line ends shown as \\r\\n or \\n) ---":                                                       "--- en-tête de la requête, octet par octet (fins de ligne affichées \\r\\n ou \\n) ---",
	"--- request head as parsed (over TLS or HTTP/2 the raw bytes are not visible to this page; header order is alphabetical) ---": "--- en-tête de la requête tel qu'analysé (en TLS ou en HTTP/2, les octets bruts ne sont pas visibles de cette page ; les en-têtes sont dans l'ordre alphabétique) ---",
	"(body: %d bytes)":               "(corps : %d octets)",
	"no Content-Length":              "sans Content-Length",
	"(body: more than %d bytes, %s)": "(corps : plus de %d octets, %s)",
	"(body: %d bytes, %s)":           "(corps : %d octets, %s)",

	// A roster's problems (labd user import, the dashboard's import form).
	"%s: bad CSV line %s: %v": "%s : ligne CSV %s incorrecte : %v",
	"%s: bad CSV line %s: %d fields; expected name[,password[,admin]]": "%s : ligne CSV %s incorrecte : %d champs ; attendu : nom[,mot de passe[,admin]]",
	"%s: bad CSV line %s: %s already on line %s":                       "%s : ligne CSV %s incorrecte : %s figure déjà à la ligne %s",
	"%s: line %s: user %s already exists":                              "%s : ligne %s : l'utilisateur %s existe déjà",
	"%s: bad CSV line %s: admin field %q is not yes or no":             "%s : ligne CSV %s incorrecte : le champ admin %q n'est ni yes ni no",
}
