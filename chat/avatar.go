package chat

import (
	"context"
	"errors"

	"github.com/crypttalk/crypttalk/media"
)

// MaxAvatarBytes bounds a decoded avatar image.
const MaxAvatarBytes = 256 << 10

// SetAvatar stores the caller's avatar. The image type is decided from its
// bytes; SVG is sanitised (no script, handlers or external references).
func (s *Service) SetAvatar(ctx context.Context, p *Principal, userRef, image string) (string, error) {
	if err := CheckSelf(p, userRef); err != nil {
		return "", err
	}
	if image == "" {
		return "", Invalid("image is required")
	}
	url, _, err := media.NormalizeAvatar(image, MaxAvatarBytes)
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return "", TooLarge("the avatar is larger than 256 KiB")
	case errors.Is(err, media.ErrUnsupported):
		return "", Unsupported("avatars must be PNG, JPEG, WebP, GIF or SVG")
	case err != nil:
		return "", Invalid("the avatar is not a valid image: " + err.Error())
	}
	u := *p.User
	u.AvatarImage, u.AvatarSet = url, true
	if err := s.store.UpdateUser(ctx, &u); err != nil {
		return "", storeError(err)
	}
	return url, nil
}
