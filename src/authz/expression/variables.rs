//! The variables of one evaluation, resolved when the expression first reads them. Strings are
//! borrowed from the identity and the request, not copied.

use std::collections::HashMap;
use std::sync::OnceLock;

use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use serde_json::Value as Json;

use super::ClaimsUse;
use crate::authn::Identity;
use crate::origin::OriginalRequest;

/// One evaluation's variables: the identity and the request, with the compound values built at
/// most once each, and only when read.
pub(super) struct Variables<'a> {
    identity: &'a Identity,
    request: &'a OriginalRequest,
    claims_use: &'a ClaimsUse,
    groups: OnceLock<Box<dyn Val + 'a>>,
    claims: OnceLock<Box<dyn Val + 'a>>,
    request_map: OnceLock<Box<dyn Val + 'a>>,
}

impl<'a> Variables<'a> {
    pub(super) fn new(identity: &'a Identity, request: &'a OriginalRequest, claims_use: &'a ClaimsUse) -> Self {
        Variables {
            identity,
            request,
            claims_use,
            groups: OnceLock::new(),
            claims: OnceLock::new(),
            request_map: OnceLock::new(),
        }
    }

    fn groups(&self) -> Box<dyn Val + 'a> {
        let groups = self.identity.groups.iter().map(|g| string(g)).collect::<Vec<_>>();
        Box::new(CelList::from(groups))
    }

    fn claims(&self) -> Box<dyn Val + 'a> {
        let claims = &self.identity.claims;
        let members: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = match self.claims_use {
            ClaimsUse::Whole => claims
                .parse()
                .into_iter()
                .map(|(name, value)| (CelMapKey::from(name), json(value)))
                .collect(),
            ClaimsUse::Members(names) => names
                .iter()
                .filter_map(|name| Some((CelMapKey::from(name.as_str()), json(claims.get(name)?))))
                .collect(),
            ClaimsUse::None => HashMap::new(),
        };
        Box::new(CelMap::from(members))
    }

    fn request_map(&self) -> Box<dyn Val + 'a> {
        let request = self.request;
        let entries: [(&'static str, &'a str); 4] = [
            ("method", request.method.as_str()),
            ("host", &request.host),
            ("path", &request.path),
            ("query", query(request)),
        ];
        let map: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = entries
            .into_iter()
            .map(|(name, value)| (CelMapKey::from(name), string(value)))
            .collect();
        Box::new(CelMap::from(map))
    }
}

impl VariableResolver for Variables<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        let value: CowVal<'b, 'b> = match name {
            "user" => CowVal::Owned(string(&self.identity.user)),
            "email" => CowVal::Owned(string(self.identity.email.as_deref().unwrap_or(""))),
            "issuer" => CowVal::Owned(string(&self.identity.issuer)),
            "groups" => CowVal::Borrowed(self.groups.get_or_init(|| self.groups()).as_ref()),
            "claims" => CowVal::Borrowed(self.claims.get_or_init(|| self.claims()).as_ref()),
            "request" => CowVal::Borrowed(self.request_map.get_or_init(|| self.request_map()).as_ref()),
            // `request.method` is looked up whole before `request`: answer it without the map.
            "request.method" => CowVal::Owned(string(self.request.method.as_str())),
            "request.path" => CowVal::Owned(string(&self.request.path)),
            "request.host" => CowVal::Owned(string(&self.request.host)),
            "request.query" => CowVal::Owned(string(query(self.request))),
            // `claims.<member>` is looked up whole before `claims`: answer it without the map
            // (from the member kept parsed in the identity). A missing member falls through to
            // the map, where selecting it fails as CEL says it must.
            _ => match (name.strip_prefix("claims."), self.claims_use) {
                (Some(member), ClaimsUse::Members(_)) if !member.contains('.') => {
                    CowVal::Owned(json(self.identity.claims.get(member)?))
                }
                _ => return None,
            },
        };
        Some(value)
    }
}

/// The query as sent, without the `?` (empty when there is none).
fn query(request: &OriginalRequest) -> &str {
    request.uri.split_once('?').map_or("", |(_, query)| query)
}

fn string<'a>(text: &'a str) -> Box<dyn Val + 'a> {
    Box::new(CelString::from(text))
}

/// A JSON value as a CEL value: integers that fit are `int` (else `uint`), other numbers `double`.
fn json<'a>(value: Json) -> Box<dyn Val + 'a> {
    match value {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(b)),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Json::String(s) => Box::new(CelString::from(s)),
        Json::Array(items) => Box::new(CelList::from(items.into_iter().map(json).collect::<Vec<_>>())),
        Json::Object(members) => Box::new(CelMap::from(
            members
                .into_iter()
                .map(|(name, value)| (CelMapKey::from(name), json(value)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}
