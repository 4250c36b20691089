//! The QR code of a key just created, for a device or phone with a camera: drawn in Rust
//! as SVG from the key the shell still holds, handed to the one-time display, never stored.

use keyward_core::SecretString;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::error::CommandError;

/// The key as an SVG QR code (medium error correction, a quiet zone, 4 px modules).
pub fn svg(secret: &SecretString) -> Result<String, CommandError> {
    let code = QrCode::with_error_correction_level(secret.expose().as_bytes(), EcLevel::M)
        .map_err(|err| CommandError::Internal(format!("cannot draw the QR code: {err}")))?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_becomes_an_svg_qr_code_that_does_not_spell_it_out() {
        let key = keyward_core::key_format::generate("kw").unwrap();
        let drawn = svg(&key.secret).unwrap();
        assert!(
            drawn.starts_with("<?xml") && drawn.contains("<svg"),
            "{}",
            &drawn[..80]
        );
        assert!(drawn.contains("<path"), "modules are drawn");
        assert!(
            !drawn.contains(&key.secret.expose()[3..]),
            "the key is in the picture only"
        );
        let other = keyward_core::key_format::generate("kw").unwrap();
        assert_ne!(svg(&other.secret).unwrap(), drawn, "each key its own code");
    }
}
