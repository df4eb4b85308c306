package http

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"labd/config"
)

// Mail client setup in one step: Thunderbird's autoconfig (the account
// wizard asks http://autoconfig.DOMAIN/mail/config-v1.1.xml and
// /.well-known/autoconfig/mail/config-v1.1.xml), Outlook's autodiscover
// (POST /autodiscover/autodiscover.xml) and an Apple configuration profile
// (/mail.mobileconfig), all listing the ports actually configured and the
// mail host name labd's certificate carries.

// mailSettings is what every format says.
type mailSettings struct {
	Domain, Host, Email, User string
	Ports                     config.MailPorts
}

func (s *Service) mailSettings(r *http.Request) mailSettings {
	cfg := s.deps.Config
	email := r.URL.Query().Get("emailaddress")
	if email == "" {
		email = r.URL.Query().Get("email")
	}
	ms := mailSettings{Domain: cfg.Server.Domain, Host: cfg.MailHost(), Email: email, Ports: cfg.MailPorts()}
	// labd's users log in with their bare name: alice, not alice@lab.test.
	ms.User = "%EMAILLOCALPART%"
	if local, _, ok := strings.Cut(email, "@"); ok && local != "" {
		ms.User = local
	}
	return ms
}

var autoconfigTmpl = template.Must(template.New("autoconfig").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{{.Domain}}">
    <domain>{{.Domain}}</domain>
    <displayName>labd lab mail ({{.Domain}})</displayName>
    <displayShortName>labd</displayShortName>
{{- if .Ports.IMAPS}}
    <incomingServer type="imap">
      <hostname>{{.Host}}</hostname>
      <port>{{.Ports.IMAPS}}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
{{- end}}
{{- if .Ports.IMAP}}
    <incomingServer type="imap">
      <hostname>{{.Host}}</hostname>
      <port>{{.Ports.IMAP}}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
{{- end}}
{{- if .Ports.POP3S}}
    <incomingServer type="pop3">
      <hostname>{{.Host}}</hostname>
      <port>{{.Ports.POP3S}}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
{{- end}}
{{- if .Ports.POP3}}
    <incomingServer type="pop3">
      <hostname>{{.Host}}</hostname>
      <port>{{.Ports.POP3}}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
{{- end}}
{{- if .Ports.Submission}}
    <outgoingServer type="smtp">
      <hostname>{{.Host}}</hostname>
      <port>{{.Ports.Submission}}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILLOCALPART%</username>
    </outgoingServer>
{{- end}}
{{- if .Ports.Submissions}}
    <outgoingServer type="smtp">
      <hostname>{{.Host}}</hostname>
      <port>{{.Ports.Submissions}}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILLOCALPART%</username>
    </outgoingServer>
{{- end}}
  </emailProvider>
</clientConfig>
`))

func (s *Service) autoconfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := autoconfigTmpl.Execute(w, s.mailSettings(r)); err != nil {
		s.log.Warn("autoconfig", "err", err)
	}
}

// autodiscover answers Outlook's POX request (MS-OXDSCLI): the request
// body names the address; the answer lists IMAP and SMTP.
func (s *Service) autodiscover(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email string `xml:"Request>EMailAddress"`
	}
	if r.Body != nil {
		_ = xml.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req)
	}
	q := r.URL.Query()
	if req.Email != "" && q.Get("emailaddress") == "" {
		q.Set("emailaddress", req.Email)
		r.URL.RawQuery = q.Encode()
	}
	ms := s.mailSettings(r)
	type protocol struct {
		Type         string
		Server       string
		Port         int
		LoginName    string
		SSL          string
		Encryption   string `xml:",omitempty"`
		SPA          string
		AuthRequired string
	}
	var protos []protocol
	add := func(typ string, port int, enc string) {
		if port == 0 {
			return
		}
		ssl := "on"
		protos = append(protos, protocol{Type: typ, Server: ms.Host, Port: port, LoginName: ms.User, SSL: ssl, Encryption: enc, SPA: "off", AuthRequired: "on"})
	}
	add("IMAP", ms.Ports.IMAPS, "SSL")
	add("IMAP", ms.Ports.IMAP, "TLS")
	add("POP3", ms.Ports.POP3S, "SSL")
	add("SMTP", ms.Ports.Submission, "TLS")
	add("SMTP", ms.Ports.Submissions, "SSL")
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">` + "\n")
	b.WriteString(` <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">` + "\n")
	b.WriteString("  <Account><AccountType>email</AccountType><Action>settings</Action>\n")
	for _, p := range protos {
		out, _ := xml.MarshalIndent(struct {
			XMLName xml.Name `xml:"Protocol"`
			protocol
		}{protocol: p}, "   ", " ")
		b.Write(out)
		b.WriteString("\n")
	}
	b.WriteString("  </Account>\n </Response>\n</Autodiscover>\n")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, b.String())
}

var mobileconfigTmpl = template.Must(template.New("mobileconfig").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>
      <key>EmailAccountDescription</key><string>labd {{.Domain}}</string>
      <key>EmailAddress</key><string>{{.Email}}</string>
      <key>IncomingMailServerHostName</key><string>{{.Host}}</string>
      <key>IncomingMailServerPortNumber</key><integer>{{.Ports.IMAPS}}</integer>
      <key>IncomingMailServerUseSSL</key><true/>
      <key>IncomingMailServerUsername</key><string>{{.User}}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>{{.Host}}</string>
      <key>OutgoingMailServerPortNumber</key><integer>{{.Ports.Submissions}}</integer>
      <key>OutgoingMailServerUseSSL</key><true/>
      <key>OutgoingMailServerUsername</key><string>{{.User}}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadIdentifier</key><string>test.labd.mail.{{.Domain}}</string>
      <key>PayloadUUID</key><string>6C1E3F1A-7A4B-4D2B-9E51-1AB0D0C0FFEE</string>
      <key>PayloadVersion</key><integer>1</integer>
      <key>PayloadDisplayName</key><string>labd mail</string>
    </dict>
  </array>
  <key>PayloadDisplayName</key><string>labd mail ({{.Domain}})</string>
  <key>PayloadIdentifier</key><string>test.labd.profile.{{.Domain}}</string>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>0F6A3C52-2D7E-4B8A-A1C4-5E7D9B2C1A00</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
`))

// mobileconfig is an Apple configuration profile (IMAP over TLS and
// submission over TLS) for the address in ?emailaddress=.
func (s *Service) mobileconfig(w http.ResponseWriter, r *http.Request) {
	ms := s.mailSettings(r)
	if ms.Email == "" || ms.User == "%EMAILLOCALPART%" {
		http.Error(w, "add ?emailaddress=you@"+ms.Domain+" to the address", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="labd-mail.mobileconfig"`)
	if err := mobileconfigTmpl.Execute(w, ms); err != nil {
		s.log.Warn("mobileconfig", "err", err)
	}
}
