//! [`TokenCipher`]: tokens encrypted at rest, in the Fernet format.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::Connection;
use crate::error::{Error, Result};

/// Encrypts and decrypts tokens for storage, in the [Fernet] format
/// (AES-128-CBC with an HMAC-SHA256 tag).
///
/// Tokens written by Python's `cryptography.fernet` (the original plan's
/// format) decrypt here, and tokens written here decrypt there.
///
/// Keys rotate: the cipher holds one or more keys, encrypts with the first
/// and decrypts with whichever matches. To rotate, put the new key first
/// and keep the old ones until [`reencrypt`](TokenCipher::reencrypt) has
/// rewritten every stored token.
///
/// A wrong key, or a token that was altered, is an
/// [`Error::TokenDecryption`]: never garbage.
///
/// `Debug` shows how many keys there are, never the keys.
///
/// ```
/// use salesforce_import::vault::TokenCipher;
/// use secrecy::{ExposeSecret, SecretString};
///
/// let key = TokenCipher::generate_key(); // keep it in your secret store
/// let cipher = TokenCipher::new([key])?;
///
/// let stored = cipher.encrypt(&SecretString::from("00Dxx!AQ0AQH0dMHZfz9"));
/// assert!(!stored.contains("AQ0AQH0dMHZfz9"));
/// assert_eq!(cipher.decrypt(&stored)?.expose_secret(), "00Dxx!AQ0AQH0dMHZfz9");
///
/// // Another key cannot read it.
/// let other = TokenCipher::new([TokenCipher::generate_key()])?;
/// assert!(other.decrypt(&stored).is_err());
/// # Ok::<(), salesforce_import::Error>(())
/// ```
///
/// [Fernet]: https://github.com/fernet/spec/blob/master/Spec.md
#[derive(Clone)]
pub struct TokenCipher {
    keys: fernet::MultiFernet,
    primary: fernet::Fernet,
    key_count: usize,
}

impl TokenCipher {
    /// A cipher with these keys, newest first. Each key is 32 bytes in
    /// URL-safe base64 (what [`generate_key`](TokenCipher::generate_key)
    /// and Python's `Fernet.generate_key()` produce).
    ///
    /// An empty list, or a key that is not 32 bytes of base64, is an
    /// [`Error::Config`] naming the key's position (never its value).
    pub fn new<I>(keys: I) -> Result<TokenCipher>
    where
        I: IntoIterator,
        I::Item: ExposeSecret<str>,
    {
        let mut fernets = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let fernet = fernet::Fernet::new(key.expose_secret().trim()).ok_or_else(|| {
                Error::config(format!(
                    "token encryption key #{} is not 32 bytes of URL-safe base64",
                    i + 1
                ))
            })?;
            fernets.push(fernet);
        }
        let Some(primary) = fernets.first().cloned() else {
            return Err(Error::config("token encryption needs at least one key"));
        };
        let key_count = fernets.len();
        Ok(TokenCipher {
            keys: fernet::MultiFernet::new(fernets),
            primary,
            key_count,
        })
    }

    /// A cipher from a comma-separated list of keys, newest first: the
    /// shape of an environment variable such as `SF_IMPORT_TOKEN_KEYS`.
    ///
    /// ```
    /// use salesforce_import::vault::TokenCipher;
    /// use secrecy::{ExposeSecret, SecretString};
    /// let (new, old) = (TokenCipher::generate_key(), TokenCipher::generate_key());
    /// let list = SecretString::from(format!("{}, {}", new.expose_secret(), old.expose_secret()));
    /// assert_eq!(TokenCipher::from_key_list(&list)?.key_count(), 2);
    /// # Ok::<(), salesforce_import::Error>(())
    /// ```
    pub fn from_key_list(list: &SecretString) -> Result<TokenCipher> {
        TokenCipher::new(
            list.expose_secret()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| SecretString::from(k.to_owned())),
        )
    }

    /// A new random key (32 bytes from the operating system's generator, in
    /// URL-safe base64).
    pub fn generate_key() -> SecretString {
        SecretString::from(fernet::Fernet::generate_key())
    }

    /// How many keys the cipher holds.
    pub fn key_count(&self) -> usize {
        self.key_count
    }

    /// Encrypts with the first key. The result is printable ASCII, safe to
    /// store in a text column.
    pub fn encrypt(&self, plaintext: &SecretString) -> String {
        self.keys.encrypt(plaintext.expose_secret().as_bytes())
    }

    /// Decrypts with whichever key matches.
    pub fn decrypt(&self, ciphertext: &str) -> Result<SecretString> {
        let bytes = self
            .keys
            .decrypt(ciphertext.trim())
            .map_err(|_| Error::TokenDecryption)?;
        // The bytes are the secret: do not echo them in the error.
        String::from_utf8(bytes)
            .map(SecretString::from)
            .map_err(|_| Error::TokenDecryption)
    }

    /// Whether this ciphertext was encrypted with the first (current) key.
    pub fn is_current(&self, ciphertext: &str) -> bool {
        self.primary.decrypt(ciphertext.trim()).is_ok()
    }

    /// Decrypts with any key and encrypts again with the first: the step of
    /// a key rotation.
    pub fn reencrypt(&self, ciphertext: &str) -> Result<String> {
        Ok(self.encrypt(&self.decrypt(ciphertext)?))
    }

    /// The at-rest form of a connection: tokens encrypted, the rest as is.
    pub fn seal(&self, connection: &Connection) -> SealedConnection {
        SealedConnection {
            instance_url: connection.instance_url.clone(),
            access_token: self.encrypt(&connection.access_token),
            refresh_token: connection.refresh_token.as_ref().map(|t| self.encrypt(t)),
            connected_by: connection.connected_by.clone(),
            connected_at: connection.connected_at,
            refreshed_at: connection.refreshed_at,
            identity_url: connection.identity_url.clone(),
            active: connection.active,
        }
    }

    /// The connection back from its at-rest form.
    pub fn open(&self, sealed: &SealedConnection) -> Result<Connection> {
        let mut connection = Connection::new(
            sealed.instance_url.clone(),
            self.decrypt(&sealed.access_token)?,
            sealed
                .refresh_token
                .as_deref()
                .map(|t| self.decrypt(t))
                .transpose()?,
            sealed.connected_by.clone(),
            sealed.connected_at,
        );
        connection.refreshed_at = sealed.refreshed_at;
        connection.identity_url = sealed.identity_url.clone();
        connection.active = sealed.active;
        Ok(connection)
    }
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCipher")
            .field("keys", &self.key_count)
            .finish_non_exhaustive()
    }
}

/// A [`Connection`] as a vault stores it: the tokens are Fernet ciphertext
/// made by [`TokenCipher::seal`]; [`TokenCipher::open`] turns it back.
///
/// A host writing its own [`TokenVault`](super::TokenVault) keeps these
/// fields in its table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealedConnection {
    /// The org's API host.
    pub instance_url: String,
    /// The access token, encrypted.
    pub access_token: String,
    /// The refresh token, encrypted.
    pub refresh_token: Option<String>,
    /// Who connected.
    pub connected_by: String,
    /// When.
    pub connected_at: DateTime<Utc>,
    /// When the access token was last refreshed.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// The Salesforce identity URL of the connected user.
    pub identity_url: Option<String>,
    /// Whether the connection is in use.
    pub active: bool,
}

impl SealedConnection {
    /// A sealed connection read back from storage.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        instance_url: impl Into<String>,
        access_token: impl Into<String>,
        refresh_token: Option<String>,
        connected_by: impl Into<String>,
        connected_at: DateTime<Utc>,
        refreshed_at: Option<DateTime<Utc>>,
        identity_url: Option<String>,
        active: bool,
    ) -> SealedConnection {
        SealedConnection {
            instance_url: instance_url.into(),
            access_token: access_token.into(),
            refresh_token,
            connected_by: connected_by.into(),
            connected_at,
            refreshed_at,
            identity_url,
            active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens made by Python's `cryptography.fernet`; see the README next
    /// to the file.
    const PYTHON_VECTORS: &str = include_str!("../../tests/fixtures/fernet/python-vectors.json");

    fn vectors() -> (serde_json::Value, TokenCipher) {
        let v: serde_json::Value = serde_json::from_str(PYTHON_VECTORS).unwrap();
        let key = |name: &str| SecretString::from(v["keys"][name].as_str().unwrap().to_owned());
        let cipher = TokenCipher::new([key("current"), key("old")]).unwrap();
        (v, cipher)
    }

    #[test]
    fn decrypts_tokens_written_by_python() {
        let (v, cipher) = vectors();
        let vectors = v["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 4);
        for vector in vectors {
            let token = vector["token"].as_str().unwrap();
            let plain = cipher.decrypt(token).unwrap();
            assert_eq!(plain.expose_secret(), vector["plaintext"].as_str().unwrap());
            assert_eq!(cipher.is_current(token), vector["key"] == "current");
        }
    }

    #[test]
    fn writes_the_fernet_format_python_reads() {
        let (_, cipher) = vectors();
        let token = cipher.encrypt(&SecretString::from("abc"));
        // Version byte 0x80 then a big-endian timestamp: "gAAAAA" in base64.
        assert!(token.starts_with("gAAAAA"), "{token}");
        // Python's Fernet with the "current" key alone reads it.
        let v: serde_json::Value = serde_json::from_str(PYTHON_VECTORS).unwrap();
        let current = SecretString::from(v["keys"]["current"].as_str().unwrap().to_owned());
        let only_current = TokenCipher::new([current]).unwrap();
        assert_eq!(only_current.decrypt(&token).unwrap().expose_secret(), "abc");
    }

    #[test]
    fn rotation_encrypts_with_the_first_key_and_reads_old_ones() {
        let (v, cipher) = vectors();
        let old_token = v["vectors"][2]["token"].as_str().unwrap();
        assert!(!cipher.is_current(old_token));
        let rotated = cipher.reencrypt(old_token).unwrap();
        assert!(cipher.is_current(&rotated));
        assert_eq!(
            cipher.decrypt(&rotated).unwrap().expose_secret(),
            "token-under-old-key"
        );
    }

    #[test]
    fn a_wrong_key_or_an_altered_token_is_a_clear_error() {
        let (v, _) = vectors();
        let token = v["vectors"][0]["token"].as_str().unwrap();
        let stranger = TokenCipher::new([TokenCipher::generate_key()]).unwrap();
        let err = stranger.decrypt(token).unwrap_err();
        assert!(matches!(err, Error::TokenDecryption));
        assert!(err.to_string().contains("could not be decrypted"), "{err}");

        let (_, cipher) = vectors();
        let mut altered = token.to_owned();
        altered.replace_range(40..41, if &token[40..41] == "A" { "B" } else { "A" });
        assert!(matches!(
            cipher.decrypt(&altered),
            Err(Error::TokenDecryption)
        ));
        assert!(matches!(
            cipher.decrypt("not a token"),
            Err(Error::TokenDecryption)
        ));
    }

    #[test]
    fn bad_keys_are_config_errors_that_do_not_echo_the_key() {
        let err = TokenCipher::new([SecretString::from("hunter2-not-base64")]).unwrap_err();
        assert!(matches!(err, Error::Config { .. }));
        assert!(err.to_string().contains("#1"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(TokenCipher::new(Vec::<SecretString>::new()).is_err());
        assert!(TokenCipher::from_key_list(&SecretString::from(" , ")).is_err());
    }

    #[test]
    fn debug_never_shows_keys_or_tokens() {
        let key = TokenCipher::generate_key();
        let cipher = TokenCipher::new([key.clone()]).unwrap();
        let debug = format!("{cipher:?}");
        assert_eq!(debug, "TokenCipher { keys: 1, .. }");
        assert!(!debug.contains(key.expose_secret()));
        assert!(!format!("{key:?}").contains(key.expose_secret()));
    }

    #[test]
    fn seal_and_open_round_trip_a_connection() {
        let (_, cipher) = vectors();
        let mut c = Connection::new(
            "https://acme.my.salesforce.com",
            SecretString::from("00Dxx!access"),
            Some(SecretString::from("5Aep!refresh")),
            "ada@example.com",
            Utc::now(),
        );
        c.identity_url = Some("https://login.salesforce.com/id/00D/005".into());
        let sealed = cipher.seal(&c);
        let at_rest = format!("{sealed:?}");
        assert!(!at_rest.contains("00Dxx!access") && !at_rest.contains("5Aep!refresh"));
        let opened = cipher.open(&sealed).unwrap();
        assert_eq!(opened.access_token.expose_secret(), "00Dxx!access");
        assert_eq!(
            opened.refresh_token.as_ref().unwrap().expose_secret(),
            "5Aep!refresh"
        );
        assert_eq!(opened.identity_url, c.identity_url);
        assert_eq!(opened.connected_at, c.connected_at);
        assert!(opened.active);

        let stranger = TokenCipher::new([TokenCipher::generate_key()]).unwrap();
        assert!(matches!(
            stranger.open(&sealed),
            Err(Error::TokenDecryption)
        ));
    }
}
