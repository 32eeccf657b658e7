//! The route table ([`Operation`]) and the matching of a raw path against it.

/// One endpoint of the HTTP surface: a method on a path template.
///
/// [`Operation::ALL`] is the route table. The dispatcher matches requests against it, the axum
/// router registers its paths, and a test checks the OpenAPI document against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `GET /me`: the caller's user object.
    GetMe,
    /// `POST /me/mute/{room}`: the caller mutes a room (idempotent).
    MuteRoom,
    /// `DELETE /me/mute/{room}`: the caller unmutes a room (idempotent).
    UnmuteRoom,
    /// `POST /admin/clients/{uid}/mute/{room}`: an admin mutes a room for a user (idempotent).
    AdminMuteRoom,
    /// `DELETE /admin/clients/{uid}/mute/{room}`: an admin unmutes a room for a user; a room that
    /// is not muted is an error.
    AdminUnmuteRoom,
    /// `GET /openapi.json`: the OpenAPI 3 document.
    GetOpenApi,
    /// `GET /me/events`: the caller's changes as server-sent events, for as long as the
    /// connection stays open.
    GetEvents,
}

impl Operation {
    /// Every operation: the route table.
    pub const ALL: [Self; 7] = [
        Self::GetMe,
        Self::MuteRoom,
        Self::UnmuteRoom,
        Self::AdminMuteRoom,
        Self::AdminUnmuteRoom,
        Self::GetOpenApi,
        Self::GetEvents,
    ];

    /// The HTTP method, upper case.
    #[must_use]
    pub fn method(self) -> &'static str {
        match self {
            Self::GetMe | Self::GetOpenApi | Self::GetEvents => "GET",
            Self::MuteRoom | Self::AdminMuteRoom => "POST",
            Self::UnmuteRoom | Self::AdminUnmuteRoom => "DELETE",
        }
    }

    /// The path template, parameters in braces (`/me/mute/{room}`), as in the OpenAPI document and
    /// in axum 0.8 routes.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::GetMe => "/me",
            Self::MuteRoom | Self::UnmuteRoom => "/me/mute/{room}",
            Self::AdminMuteRoom | Self::AdminUnmuteRoom => "/admin/clients/{uid}/mute/{room}",
            Self::GetOpenApi => "/openapi.json",
            Self::GetEvents => "/me/events",
        }
    }

    /// The `operationId` in the OpenAPI document.
    #[must_use]
    pub fn operation_id(self) -> &'static str {
        match self {
            Self::GetMe => "getMe",
            Self::MuteRoom => "muteRoom",
            Self::UnmuteRoom => "unmuteRoom",
            Self::AdminMuteRoom => "adminMuteRoom",
            Self::AdminUnmuteRoom => "adminUnmuteRoom",
            Self::GetOpenApi => "getOpenApi",
            Self::GetEvents => "getEvents",
        }
    }
}

/// The raw (still percent-encoded) path parameters of a matched route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawParams<'p> {
    pub(crate) uid: Option<&'p str>,
    pub(crate) room: Option<&'p str>,
}

/// What the route table says about a method and a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteMatch<'p> {
    /// An operation serves this method on this path.
    Found(Operation, RawParams<'p>),
    /// Operations serve this path, with other methods: the value of the `Allow` header.
    WrongMethod(String),
    /// No operation has this path.
    NotFound,
}

/// Matches the raw `path` against `template`. A parameter matches the rest of one raw segment, even
/// an empty one (which then fails validation as an empty id), and never a `/`; everything else must
/// be equal. Every parameter of a template is a whole segment, so this is a match segment by
/// segment, done in one pass over the bytes.
fn match_template<'p>(template: &str, path: &'p str) -> Option<RawParams<'p>> {
    let mut params = RawParams::default();
    let mut template = template;
    let mut rest = path;
    while let Some(open) = position_of(b'{', template) {
        let (literal, parameter) = template.split_at_checked(open)?;
        let close = position_of(b'}', parameter)?;
        let (name, after_name) = parameter.split_at_checked(close + 1)?;
        rest = rest.strip_prefix(literal)?;
        let end = position_of(b'/', rest).unwrap_or(rest.len());
        let (raw, after_raw) = rest.split_at_checked(end)?;
        match name {
            "{uid}" => params.uid = Some(raw),
            "{room}" => params.room = Some(raw),
            _ => return None,
        }
        template = after_name;
        rest = after_raw;
    }
    (rest == template).then_some(params)
}

/// Where the ASCII `byte` first is in `text`: a plain scan, quicker than `memchr` on strings this
/// short.
fn position_of(byte: u8, text: &str) -> Option<usize> {
    text.bytes().position(|b| b == byte)
}

/// Looks `method` and the raw `path` up in the route table.
pub(crate) fn match_route<'p>(method: &str, path: &'p str) -> RouteMatch<'p> {
    for operation in Operation::ALL {
        if operation.method() == method
            && let Some(params) = match_template(operation.path(), path)
        {
            return RouteMatch::Found(operation, params);
        }
    }
    let allowed: Vec<&'static str> = Operation::ALL
        .into_iter()
        .filter(|operation| match_template(operation.path(), path).is_some())
        .map(Operation::method)
        .collect();
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        RouteMatch::WrongMethod(allowed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_operations_with_raw_params() {
        assert_eq!(
            match_route("DELETE", "/me/mute/a%2Fb"),
            RouteMatch::Found(
                Operation::UnmuteRoom,
                RawParams {
                    uid: None,
                    room: Some("a%2Fb")
                }
            )
        );
        assert_eq!(
            match_route("POST", "/admin/clients/u%201/mute/r"),
            RouteMatch::Found(
                Operation::AdminMuteRoom,
                RawParams {
                    uid: Some("u%201"),
                    room: Some("r")
                }
            )
        );
        assert_eq!(
            match_route("GET", "/me"),
            RouteMatch::Found(Operation::GetMe, RawParams::default())
        );
        assert_eq!(
            match_route("GET", "/me/events"),
            RouteMatch::Found(Operation::GetEvents, RawParams::default())
        );
        // An empty segment is still the parameter; validation refuses it later.
        assert_eq!(
            match_route("POST", "/admin/clients//mute/"),
            RouteMatch::Found(
                Operation::AdminMuteRoom,
                RawParams {
                    uid: Some(""),
                    room: Some("")
                }
            )
        );
    }

    #[test]
    fn wrong_methods_list_the_allowed_ones() {
        assert_eq!(
            match_route("PUT", "/me/mute/x"),
            RouteMatch::WrongMethod("POST, DELETE".into())
        );
        assert_eq!(
            match_route("get", "/me"),
            RouteMatch::WrongMethod("GET".into())
        );
        assert_eq!(
            match_route("DELETE", "/openapi.json"),
            RouteMatch::WrongMethod("GET".into())
        );
        assert_eq!(
            match_route("POST", "/me/events"),
            RouteMatch::WrongMethod("GET".into())
        );
    }

    #[test]
    fn anything_else_is_not_found() {
        for path in [
            "",
            "/",
            "*",
            "/me/",
            "/me/mute",
            "/me/mute/a/b",
            "/me//mute/a",
            "/ME",
            "/m%65",
            "/admin/clients/u/mute",
            "/admin/clients/u/mute/r/",
            "/openapi.json/",
            "/me/events/",
            "/me/Events",
        ] {
            assert_eq!(match_route("GET", path), RouteMatch::NotFound, "{path}");
            assert_eq!(match_route("POST", path), RouteMatch::NotFound, "{path}");
        }
    }
}
