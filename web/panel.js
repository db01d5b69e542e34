/*
 * berth's panel: the pages are rendered by berthd; this script sends their
 * forms and buttons to the JSON API (/api/v1) with the session's CSRF token
 * (<meta name="csrf-token">), follows a job's output, and swaps in fresh
 * parts of the page when something changed. Plain JS, no build step.
 */
"use strict";

(function () {
	var meta = document.querySelector('meta[name="csrf-token"]');
	var csrf = meta ? meta.getAttribute("content") : "";

	function $(id) {
		return document.getElementById(id);
	}

	/*
	 * A request to the API: body undefined (none), a Blob/File sent as
	 * is with type, or anything else as JSON. Resolves to {ok, status,
	 * data}; a network failure resolves with status 0.
	 */
	function api(method, path, body, type) {
		var opts = {
			method: method,
			headers: { "X-CSRF-Token": csrf },
			credentials: "same-origin",
		};
		if (body !== undefined) {
			if (type) {
				opts.headers["Content-Type"] = type;
				opts.body = body;
			} else {
				opts.headers["Content-Type"] = "application/json";
				opts.body = JSON.stringify(body);
			}
		}
		return fetch(path, opts).then(
			function (r) {
				return r.text().then(function (t) {
					var d = null;
					try {
						d = t ? JSON.parse(t) : null;
					} catch (e) {
						d = null;
					}
					return { ok: r.ok, status: r.status, data: d || {} };
				});
			},
			function () {
				return { ok: false, status: 0, data: {} };
			}
		);
	}

	function errorText(res) {
		if (res.data && res.data.error) {
			return res.data.error;
		}
		return res.status ? "berthd answered " + res.status : "cannot reach berthd";
	}

	function say(el, text) {
		if (el) {
			el.textContent = text;
		}
	}

	/* Runs fn(event) on submit of the form of this id, the default send prevented. */
	function onSubmit(id, fn) {
		var form = $(id);
		if (!form) {
			return;
		}
		form.addEventListener("submit", function (ev) {
			ev.preventDefault();
			var btn = form.querySelector('button[type="submit"]');
			if (btn) {
				btn.disabled = true;
			}
			Promise.resolve(fn(form)).then(function () {
				if (btn) {
					btn.disabled = false;
				}
			});
		});
	}

	/* Replaces the elements of these ids with their new version from a fresh copy of the page. */
	function refresh(ids) {
		return fetch(location.pathname, { credentials: "same-origin" })
			.then(function (r) {
				return r.ok ? r.text() : "";
			})
			.then(function (html) {
				if (!html) {
					return;
				}
				var doc = new DOMParser().parseFromString(html, "text/html");
				ids.forEach(function (id) {
					var old = $(id), neu = doc.getElementById(id);
					if (old && neu) {
						old.replaceWith(document.importNode(neu, true));
					}
				});
			}, function () {});
	}

	/* ---- every page with a session: log out ---- */
	var logout = $("logout");
	if (logout) {
		logout.addEventListener("click", function () {
			logout.disabled = true;
			api("POST", "/api/v1/logout", {}).then(function () {
				location.assign("/login");
			});
		});
	}

	/* ---- /login ---- */
	onSubmit("login", function () {
		var err = $("login-error"), row = $("otp-row");
		var body = { name: $("name").value.trim(), password: $("password").value };
		if (!row.hidden && $("otp").value.trim()) {
			body.otp = $("otp").value.trim();
		}
		say(err, "");
		return api("POST", "/api/v1/login", body).then(function (res) {
			if (res.ok) {
				location.assign("/");
				return;
			}
			if (res.data.otp_required) {
				row.hidden = false;
				$("otp").value = "";
				$("otp").focus();
			}
			say(err, errorText(res));
		});
	});

	/* ---- / ---- */
	onSubmit("app-create", function () {
		var name = $("app-name").value.trim();
		say($("app-create-error"), "");
		return api("POST", "/api/v1/apps", { name: name }).then(function (res) {
			if (res.ok) {
				location.assign("/apps/" + encodeURIComponent(res.data.name || name));
				return;
			}
			say($("app-create-error"), errorText(res));
		});
	});

	/* ---- /apps/NAME ---- */
	var app = $("app");
	var appName = app ? app.getAttribute("data-app") : "";
	var appPath = "/api/v1/apps/" + encodeURIComponent(appName);
	var polling = 0; /* which job's polling is current: a new job stops the old one's */

	function sectionError(el, text) {
		var sec = el && el.closest("section");
		say(sec && sec.querySelector(".error"), text);
	}

	function setState(state) {
		var st = $("job-state");
		if (st) {
			st.textContent = state;
			st.className = state;
		}
	}

	/*
	 * Follows job id: its lines into #job-log every second, its state into
	 * #job-state; at its end done(state) when given, else the app's sections refresh.
	 */
	function follow(id, done) {
		var log = $("job-log"), from = 0, mine = ++polling;
		log.textContent = "";
		setState("running");
		function tick() {
			if (mine !== polling) {
				return;
			}
			api("GET", "/api/v1/jobs/" + encodeURIComponent(id) + "?from=" + from).then(
				function (res) {
					if (mine !== polling) {
						return;
					}
					if (!res.ok) {
						log.appendChild(document.createTextNode(errorText(res) + "\n"));
						setState("failed");
						return;
					}
					var lines = res.data.lines || [];
					if (lines.length) {
						log.appendChild(document.createTextNode(lines.join("\n") + "\n"));
						log.scrollTop = log.scrollHeight;
					}
					from = typeof res.data.next === "number" ? res.data.next : from + lines.length;
					var state = res.data.state || "running";
					setState(state);
					if (state === "running") {
						setTimeout(tick, 1000);
					} else if (done) {
						done(state);
					} else {
						refresh(["summary", "versions", "env", "domains"]);
					}
				}
			);
		}
		tick();
	}

	/*
	 * Live logs: the app's lines as Server-Sent Events into #logs-out (the
	 * last LOGS_KEEP), only those holding q when given, until Stop or the end.
	 */
	var logs = null, LOGS_KEEP = 2000;
	function stopLogs(state) {
		if (logs) {
			logs.close();
			logs = null;
		}
		if ($("logs-stop")) {
			$("logs-stop").hidden = true;
		}
		say($("logs-state"), state);
	}
	function followLogs(q) {
		var out = $("logs-out");
		stopLogs("");
		out.textContent = "";
		logs = new EventSource(appPath + "/logs?tail=200" + (q ? "&q=" + encodeURIComponent(q) : ""));
		$("logs-stop").hidden = false;
		say($("logs-state"), q ? "following the lines holding \u201c" + q + "\u201d" : "following");
		logs.onmessage = function (ev) {
			out.appendChild(document.createTextNode(ev.data + "\n"));
			while (out.childNodes.length > LOGS_KEEP) {
				out.removeChild(out.firstChild);
			}
			out.scrollTop = out.scrollHeight;
		};
		logs.addEventListener("end", function () {
			stopLogs("the app's containers are gone: no more lines");
		});
		logs.onerror = function () {
			/* the browser tries again by itself while the page is open */
			if (logs && logs.readyState === EventSource.CLOSED) {
				stopLogs("the logs stopped");
			}
		};
	}

	/* Starts a change of the app (a POST or DELETE that answers 202 {job}); el shows errors. */
	function change(el, method, path, body, type) {
		sectionError(el, "");
		return api(method, appPath + path, body, type).then(function (res) {
			if (res.ok && res.data.job) {
				follow(res.data.job);
				return true;
			}
			sectionError(el, errorText(res));
			return false;
		});
	}

	if (app) {
		app.addEventListener("click", function (ev) {
			var b = ev.target.closest("button");
			if (!b || !app.contains(b)) {
				return;
			}
			var v = b.getAttribute("data-version"), k = b.getAttribute("data-key");
			var d = b.getAttribute("data-domain");
			if (b.id === "logs-stop") {
				stopLogs("stopped");
				return;
			}
			if (b.classList.contains("rollback")) {
				if (confirm("Roll " + appName + " back to version " + v +
					    "? This deploys " + v + " again and moves the traffic to it.")) {
					change(b, "POST", "/rollback", { version: v });
				}
			} else if (b.classList.contains("env-unset")) {
				if (confirm("Remove " + k + " from " + appName +
					    "? This redeploys the app without it.")) {
					change(b, "POST", "/env", { set: {}, unset: [k] });
				}
			} else if (b.classList.contains("domain-remove")) {
				if (confirm("Stop serving " + appName + " on " + d + "?")) {
					change(b, "DELETE", "/domains/" + encodeURIComponent(d));
				}
			}
		});
		app.addEventListener("change", function (ev) {
			var box = ev.target;
			if (box.id !== "https") {
				return;
			}
			change(box, "POST", "/letsencrypt", { enabled: box.checked }).then(function (ok) {
				if (!ok) {
					box.checked = !box.checked;
				}
			});
		});
		/* the forms live in sections that refresh() replaces: listen on the page */
		app.addEventListener("submit", function (ev) {
			var f = ev.target, btn = f.querySelector('button[type="submit"]'), p = null;
			ev.preventDefault();
			if (f.id === "logs-form") {
				followLogs($("logs-q").value);
				return;
			}
			if (f.id === "env-form") {
				var set = {};
				set[$("env-key").value.trim()] = $("env-value").value;
				p = change(f, "POST", "/env", { set: set, unset: [] }).then(function (ok) {
					if (ok) {
						f.reset();
					}
				});
			} else if (f.id === "domain-form") {
				p = change(f, "POST", "/domains", { domain: $("domain").value.trim() }).then(
					function (ok) {
						if (ok) {
							f.reset();
						}
					});
			} else if (f.id === "scale-form") {
				p = change(f, "POST", "/scale", { web: parseInt($("scale-web").value, 10) });
			} else if (f.id === "deploy-form") {
				var file = $("deploy-file").files[0], image = $("deploy-image").value.trim();
				var git = $("deploy-git").value.trim(), ref = $("deploy-ref").value.trim();
				if (file) {
					var gz = /\.(tgz|gz)$/i.test(file.name);
					p = change(f, "POST", "/deploys", file, gz ? "application/gzip" : "application/x-tar");
				} else if (image) {
					p = change(f, "POST", "/deploys", { image: image });
				} else if (git) {
					p = change(f, "POST", "/deploys", ref ? { git_url: git, ref: ref } : { git_url: git });
				} else {
					sectionError(f, "choose a .tar, .tar.gz or .tgz file, or give an image or a git repository");
					return;
				}
				p = p.then(function (ok) {
					if (ok) {
						f.reset();
					}
				});
			}
			if (p && btn) {
				btn.disabled = true;
				p.then(function () {
					btn.disabled = false;
				});
			}
		});
	}

	/* ---- /oneclick ---- */
	var oc = $("oneclick");
	var ocYaml = null; /* the pasted template whose form is shown (null: a shipped one's) */

	/* A new element: attributes, and text (as text, never markup). */
	function node(tag, attrs, text) {
		var n = document.createElement(tag);
		Object.keys(attrs || {}).forEach(function (k) {
			n.setAttribute(k, attrs[k]);
		});
		if (text !== undefined && text !== null) {
			n.textContent = text;
		}
		return n;
	}

	/*
	 * The form of a template from POST /api/v1/oneclick/form's answer, the
	 * same elements as berthd renders for a shipped one (daemon/paneloneclick.c).
	 */
	function buildForm(f) {
		var sec = node("section", { id: "oneclick-chosen", "aria-labelledby": "oneclick-chosen-h" });
		sec.appendChild(node("h2", { id: "oneclick-chosen-h", tabindex: "-1" },
			f.displayName || "Your template"));
		if (f.description) {
			sec.appendChild(node("p", { class: "lines" }, f.description));
		}
		if (f.instructions && f.instructions.start) {
			sec.appendChild(node("p", { class: "lines hint" }, f.instructions.start));
		}
		var apps = node("p", {}, "Services (each becomes an app): ");
		(f.services || []).forEach(function (s, i) {
			apps.appendChild(document.createTextNode(i ? ", " : ""));
			apps.appendChild(node("code", {}, s));
		});
		sec.appendChild(apps);
		if ((f.warnings || []).length) {
			var ul = node("ul", { class: "hint" });
			f.warnings.forEach(function (w) {
				ul.appendChild(node("li", {}, w));
			});
			sec.appendChild(ul);
		}
		var form = node("form", { id: "oneclick-form" });
		(f.variables || []).forEach(function (v, i) {
			var id = "oc-var-" + i, p = node("p", { class: "field" });
			p.appendChild(node("label", { for: id }, v.label));
			p.appendChild(node("span", { class: "hint lines", id: id + "-hint" },
				[v.description, v.note].filter(Boolean).join(" ")));
			var inp = node("input", { id: id, "data-var": v.id, "aria-describedby": id + "-hint" });
			if (v.secret) {
				inp.setAttribute("type", "password");
				inp.setAttribute("autocomplete", "new-password");
			} else {
				inp.setAttribute("autocomplete", "off");
				inp.setAttribute("autocapitalize", "none");
				inp.setAttribute("spellcheck", "false");
				if (typeof v.prefill === "string") {
					inp.value = v.prefill;
				}
			}
			inp.required = !!v.required;
			if (v.pattern) {
				inp.setAttribute("pattern", v.pattern);
			}
			p.appendChild(inp);
			form.appendChild(p);
		});
		form.appendChild(node("p", { id: "oneclick-error", class: "error", role: "alert", tabindex: "-1" }));
		var bp = node("p");
		bp.appendChild(node("button", { type: "submit", id: "oneclick-submit" }, "Deploy"));
		form.appendChild(bp);
		sec.appendChild(form);
		$("oneclick-chosen").replaceWith(sec);
		$("oneclick-chosen-h").focus();
	}

	/* The pasted (or chosen) template's form, from berthd. */
	function loadYaml(form) {
		var err = $("oneclick-yaml-error"), text = $("oneclick-yaml"), file = $("oneclick-file").files[0];
		var btn = $("oneclick-load");
		say(err, "");
		var got = !text.value && file ? file.text() : Promise.resolve(text.value);
		btn.disabled = true;
		return got.then(function (yaml) {
			text.value = yaml;
			if (!yaml.trim()) {
				return { ok: false, status: 400, data: { error: "paste a template, or choose its file" } };
			}
			return api("POST", "/api/v1/oneclick/form", { yaml: yaml }).then(function (res) {
				if (res.ok) {
					ocYaml = yaml;
					buildForm(res.data);
				}
				return res;
			});
		}, function () {
			return { ok: false, status: 0, data: { error: "cannot read " + file.name } };
		}).then(function (res) {
			btn.disabled = false;
			if (!res.ok) {
				say(err, errorText(res));
				err.focus();
			}
		});
	}

	/* The links to the apps a one-click deploy made. */
	function listApps(names) {
		var ul = $("oneclick-apps");
		ul.textContent = "";
		names.forEach(function (n) {
			var li = node("li");
			li.appendChild(node("a", { href: "/apps/" + encodeURIComponent(n) }, n));
			ul.appendChild(li);
		});
	}

	/* Sends the form's values (an empty field: its default) to POST /api/v1/oneclick. */
	function deployForm(form) {
		var err = $("oneclick-error"), btn = $("oneclick-submit"), values = {};
		var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-var]"));
		var name = form.getAttribute("data-template");
		inputs.forEach(function (inp) {
			inp.removeAttribute("aria-invalid");
			if (inp.value !== "") {
				values[inp.getAttribute("data-var")] = inp.value;
			}
		});
		var body = name ? { template: name } : { yaml: ocYaml };
		body.values = values;
		say(err, "");
		btn.disabled = true;
		return api("POST", "/api/v1/oneclick", body).then(function (res) {
			btn.disabled = false;
			if (res.ok && res.data.job) {
				var apps = res.data.apps || [];
				$("oneclick-apps").textContent = "";
				$("job").hidden = false;
				follow(res.data.job, function (state) {
					if (state === "succeeded") {
						listApps(apps);
					}
				});
				return;
			}
			/* the error names the variable: mark its field */
			var text = errorText(res);
			inputs.forEach(function (inp) {
				var id = inp.getAttribute("data-var").replace(/^\$\$cap_/, "");
				if (new RegExp("(^|[^A-Za-z0-9_])" + id + "([^A-Za-z0-9_]|$)").test(text)) {
					inp.setAttribute("aria-invalid", "true");
				}
			});
			say(err, text);
			err.focus();
		});
	}

	if (oc) {
		oc.addEventListener("submit", function (ev) {
			var f = ev.target;
			if (f.id === "oneclick-yaml-form") {
				ev.preventDefault();
				loadYaml(f);
			} else if (f.id === "oneclick-form") {
				ev.preventDefault();
				deployForm(f);
			}
		});
		$("oneclick-file").addEventListener("change", function () {
			var file = $("oneclick-file").files[0];
			if (file) {
				file.text().then(function (t) {
					$("oneclick-yaml").value = t;
				}, function () {
					say($("oneclick-yaml-error"), "cannot read " + file.name);
				});
			}
		});
	}

	/* ---- /settings ---- */
	onSubmit("totp-begin-form", function () {
		say($("twofa-msg"), "");
		return api("POST", "/api/v1/me/totp", { password: $("totp-password").value }).then(
			function (res) {
				if (!res.ok) {
					say($("twofa-msg"), errorText(res));
					return;
				}
				$("totp-password").value = "";
				say($("totp-secret"), res.data.secret);
				say($("totp-uri"), res.data.otpauth_uri);
				$("totp-begin-form").hidden = true;
				$("totp-pending").hidden = false;
				$("totp-code").focus();
			});
	});

	onSubmit("totp-confirm-form", function () {
		say($("twofa-msg"), "");
		return api("POST", "/api/v1/me/totp/confirm", { code: $("totp-code").value.trim() }).then(
			function (res) {
				if (!res.ok) {
					say($("twofa-msg"), errorText(res));
					return;
				}
				var ul = $("recovery-codes");
				ul.textContent = "";
				(res.data.recovery_codes || []).forEach(function (c) {
					var li = document.createElement("li");
					li.textContent = c;
					ul.appendChild(li);
				});
				say($("totp-secret"), "");
				say($("totp-uri"), "");
				$("totp-pending").hidden = true;
				$("totp-done").hidden = false;
				say($("totp-off"), "On.");
			});
	});

	onSubmit("password-form", function () {
		var msg = $("password-msg");
		say(msg, "");
		return api("POST", "/api/v1/me/password",
			   { old: $("password-old").value, new: $("password-new").value }).then(
			function (res) {
				if (res.ok) {
					$("password-form").reset();
				}
				say(msg, res.ok ? "Password changed: your other sessions have ended."
					       : errorText(res));
			});
	});

	onSubmit("token-form", function () {
		var body = { name: $("token-name").value.trim() };
		var tapp = $("token-app").value.trim(), role = $("token-role").value;
		if (tapp) {
			body.app = tapp;
			if (role) {
				body.role = role;
			}
		}
		say($("tokens-msg"), "");
		return api("POST", "/api/v1/tokens", body).then(function (res) {
			if (!res.ok) {
				say($("tokens-msg"), errorText(res));
				return;
			}
			$("token-form").reset();
			say($("token-value"), res.data.token);
			$("token-new").hidden = false;
			return refresh(["token-list"]);
		});
	});

	/* Removes what a button names (a token, a user) after a confirm(), then refreshes ids. */
	function removal(cls, attr, what, path, ids, msg) {
		document.addEventListener("click", function (ev) {
			var b = ev.target.closest("button." + cls);
			if (!b) {
				return;
			}
			var name = b.getAttribute(attr);
			if (!confirm("Remove the " + what + " " + name + "?")) {
				return;
			}
			say($(msg), "");
			b.disabled = true;
			api("DELETE", path + encodeURIComponent(name)).then(function (res) {
				if (!res.ok) {
					b.disabled = false;
					say($(msg), errorText(res));
					return;
				}
				refresh(ids);
			});
		});
	}
	if ($("tokens")) {
		removal("token-revoke", "data-token", "API token", "/api/v1/tokens/", ["token-list"], "tokens-msg");
	}
	if ($("users")) {
		removal("user-delete", "data-user", "user", "/api/v1/users/", ["user-list"], "users-msg");
	}

	/* ---- /settings, the server (admins): the root domain, the SSH keys ---- */
	onSubmit("root-domain-form", function () {
		say($("domain-msg"), "");
		say($("domain-note"), "");
		return api("PUT", "/api/v1/server/domain", { domain: $("root-domain").value.trim() }).then(
			function (res) {
				if (!res.ok) {
					say($("domain-msg"), errorText(res));
					return;
				}
				say($("domain-note"), "Root domain set to " + res.data.domain + ". " + res.data.note);
				return refresh(["server-domain"]);
			});
	});

	onSubmit("key-form", function () {
		say($("keys-msg"), "");
		say($("keys-note"), "");
		return api("POST", "/api/v1/server/keys", {
			name: $("key-name").value.trim(),
			key: $("key-text").value.trim(),
			admin: $("key-admin").checked,
		}).then(function (res) {
			if (!res.ok) {
				say($("keys-msg"), errorText(res));
				return;
			}
			$("key-form").reset();
			say($("keys-note"), "Added the key " + res.data.name + " (" + res.data.fingerprint + ").");
			return refresh(["ssh-keys"]);
		});
	});

	onSubmit("grant-form", function () {
		var key = $("grant-key").value.trim();
		say($("keys-msg"), "");
		return api("POST", "/api/v1/server/keys/" + encodeURIComponent(key) + "/grants", {
			app: $("grant-app").value.trim(),
			right: $("grant-right").value,
		}).then(function (res) {
			if (!res.ok) {
				say($("keys-msg"), errorText(res));
				return;
			}
			$("grant-form").reset();
			return refresh(["ssh-keys"]);
		});
	});

	if ($("server")) {
		removal("key-remove", "data-key-name", "SSH key", "/api/v1/server/keys/", ["ssh-keys"], "keys-msg");
		document.addEventListener("click", function (ev) {
			var b = ev.target.closest("button.grant-revoke");
			if (!b) {
				return;
			}
			var key = b.getAttribute("data-key-name"), app = b.getAttribute("data-app");
			say($("keys-msg"), "");
			b.disabled = true;
			api("DELETE", "/api/v1/server/keys/" + encodeURIComponent(key) + "/grants/" +
			    encodeURIComponent(app)).then(function (res) {
				if (!res.ok) {
					b.disabled = false;
					say($("keys-msg"), errorText(res));
					return;
				}
				refresh(["ssh-keys"]);
			});
		});
	}

	/* ---- the dashboard (admins): check the host now (the section is swapped: delegated) ---- */
	document.addEventListener("click", function (ev) {
		var btn = ev.target.closest("#host-check");
		if (!btn) {
			return;
		}
		var tries = 0;
		btn.disabled = true;
		say($("host-msg"), "");
		api("POST", "/api/v1/server/doctor", {}).then(function (res) {
			if (!res.ok) {
				btn.disabled = false;
				say($("host-msg"), errorText(res));
				return;
			}
			var before = res.data.checked_at;
			say($("host-note"), "Checking the host…");
			/* the check takes seconds: ask until it has a new time, a minute at most */
			(function poll() {
				api("GET", "/api/v1/server").then(function (r) {
					var d = r.ok && r.data.doctor;
					if (d && d.checked_at !== before) {
						refresh(["host"]);
						return;
					}
					if (++tries >= 60) {
						btn.disabled = false;
						say($("host-note"), "");
						say($("host-msg"), "No new check after a minute: see berthd's log.");
						return;
					}
					setTimeout(poll, 1000);
				});
			})();
		});
	});

	onSubmit("user-form", function () {
		var apps = {}, bad = "";
		$("user-apps").value.split(/[\s,]+/).forEach(function (w) {
			if (!w) {
				return;
			}
			var i = w.lastIndexOf(":");
			if (i <= 0) {
				bad = w;
				return;
			}
			apps[w.slice(0, i)] = w.slice(i + 1);
		});
		say($("users-msg"), "");
		if (bad) {
			say($("users-msg"), "apps: expected APP:deployer or APP:viewer, got " + bad);
			return;
		}
		return api("POST", "/api/v1/users", {
			name: $("user-name").value.trim(),
			password: $("user-password").value,
			role: $("user-role").value,
			apps: apps,
		}).then(function (res) {
			if (!res.ok) {
				say($("users-msg"), errorText(res));
				return;
			}
			$("user-form").reset();
			return refresh(["user-list"]);
		});
	});
})();
